import type { Context, MiddlewareHandler } from 'hono';
import { authenticate } from '../../agents/authenticate.js';
import { authenticateAssertion } from '../../agents/authenticate-assertion.js';
import { federationDiagnosis } from '../../agents/federation/denied.js';
import { decode, type Federation } from '../../agents/federation/index.js';
import { agentCaller, type Caller } from '../../credentials/context.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, requestHeader } from '../context.js';
import { assertionAudiences } from '../oauth-paths.js';
import { recordAuthFailure } from './auth-failures.js';
import type { AuthThrottle } from './throttle.js';

/** `Bearer` + a compact JWS: an OIDC ID token or a key-pair agent's client assertion (agent tokens are `ckr_…`). */
const JWT_BEARER_RE = /^Bearer (eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

/** How a route authenticates its caller. */
export interface CallerOptions {
  /** Issuing routes: a `single_use` rule's ID token is used up here. */
  readonly spend: boolean;
  /** Agents only (a `ckr_` token or a client assertion): the OAuth introspection and revocation endpoints. */
  readonly agentsOnly?: boolean;
  /** A client assertion sent in the form (`client_assertion`, RFC 7523 §2.2) rather than as `Authorization: Bearer`. */
  readonly assertion?: string | undefined;
}

/**
 * Route middleware: resolves the request's credentials to the caller (`c.get('caller')`) before
 * the handler runs. Put on each route rather than on the router, so an unknown method stays a 404
 * without a token.
 */
export function requireCaller(
  services: Services,
  federation: Federation,
  throttle: AuthThrottle,
  options: { readonly spend: boolean },
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('caller', await authenticateRequest(services, federation, throttle, c, options));
    await next();
  };
}

/**
 * The one place that decides who a request is. `Authorization: Bearer` holds an agent's `ckr_…`
 * token, a key-pair agent's client assertion, or an OIDC ID token; the last two are both JWTs and
 * are told apart by `iss`: an agent's name never contains `:`, an issuer is a URL. A failure is
 * audited (with federation's diagnosis) and counted by the throttle, which may turn it into a 429.
 */
export async function authenticateRequest(
  services: Services,
  federation: Federation,
  throttle: AuthThrottle,
  c: Context<AppEnv>,
  options: CallerOptions,
): Promise<Caller> {
  try {
    return await resolveCaller(services, federation, c, options);
  } catch (err) {
    throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err, federationDiagnosis(err)) : err;
  }
}

async function resolveCaller(services: Services, federation: Federation, c: Context<AppEnv>, options: CallerOptions): Promise<Caller> {
  const authorization = requestHeader(c, 'authorization');
  if (options.assertion !== undefined) {
    // RFC 6749 §2.3: one client authentication method per request.
    if (authorization !== undefined)
      throw new CreddyError('ERR_UNAUTHENTICATED', 'send a client_assertion or an Authorization header, not both');
    return assertedAgent(services, options.assertion);
  }
  const jwt = authorization === undefined ? undefined : JWT_BEARER_RE.exec(authorization)?.[1];
  if (jwt === undefined) return agentCaller(await authenticate(services, authorization));
  if (namesAnAgent(jwt)) return assertedAgent(services, jwt);
  if (options.agentsOnly) throw new CreddyError('ERR_UNAUTHENTICATED', 'this endpoint takes agents: a ckr_ token or a client assertion');
  return federation.authenticate(jwt, { requestId: c.get('requestId'), spend: options.spend });
}

async function assertedAgent(services: Services, assertion: string): Promise<Caller> {
  const { agent, jkt } = await authenticateAssertion(services, assertion, assertionAudiences(services.config.issuer));
  return agentCaller(agent, jkt);
}

/** Routing only, never trust: a JWT whose (unverified) `iss` could be an agent's name is a client assertion. */
function namesAnAgent(jwt: string): boolean {
  const iss = decode(jwt)?.iss;
  return typeof iss === 'string' && iss.length > 0 && !iss.includes(':');
}
