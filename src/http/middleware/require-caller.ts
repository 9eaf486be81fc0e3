import type { Context, MiddlewareHandler } from 'hono';
import { authenticate } from '../../agents/authenticate.js';
import { federationDiagnosis } from '../../agents/federation/denied.js';
import type { Federation } from '../../agents/federation/index.js';
import { agentCaller, type Caller } from '../../credentials/context.js';
import { isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, requestHeader } from '../context.js';
import { recordAuthFailure } from './auth-failures.js';
import type { AuthThrottle } from './throttle.js';

/** `Bearer` + a compact JWS: an OIDC ID token (agent tokens are `ckr_…`). Length is checked by federation. */
const ID_TOKEN_BEARER_RE = /^Bearer (eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

/**
 * Route middleware: resolves `Authorization: Bearer` to the caller (`c.get('caller')`) before the
 * handler runs — an agent for `ckr_…`, a federated workload for an OIDC ID token, told apart by
 * shape. `spend` marks issuing routes, where a `single_use` rule's token is used up. A failure is
 * audited (with federation's diagnosis) and counted by the throttle, which may turn it into a
 * 429. Put on each route rather than on the router, so an unknown method stays a 404 without a token.
 */
export function requireCaller(
  services: Services,
  federation: Federation,
  throttle: AuthThrottle,
  options: { readonly spend: boolean },
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    try {
      c.set('caller', await resolveCaller(services, federation, c, options.spend));
    } catch (err) {
      throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err, federationDiagnosis(err)) : err;
    }
    await next();
  };
}

async function resolveCaller(services: Services, federation: Federation, c: Context<AppEnv>, spend: boolean): Promise<Caller> {
  const authorization = requestHeader(c, 'authorization');
  const idToken = authorization === undefined ? undefined : ID_TOKEN_BEARER_RE.exec(authorization)?.[1];
  if (idToken === undefined) return agentCaller(await authenticate(services, authorization));
  return federation.authenticate(idToken, { requestId: c.get('requestId'), spend });
}
