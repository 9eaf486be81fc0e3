import { type Context, Hono } from 'hono';
import type { Federation } from '../../agents/federation/index.js';
import type { Caller } from '../../credentials/context.js';
import { introspectToken, revokeToken } from '../../credentials/introspect.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, clientIp } from '../context.js';
import { authenticateRequest } from '../middleware/require-caller.js';
import type { AuthThrottle } from '../middleware/throttle.js';
import { clientAuthFailure, oauthErrorHandler } from '../oauth-error.js';
import { INTROSPECTION_PATH, REVOCATION_PATH } from '../oauth-paths.js';
import { type FormParams, formAssertion, readForm } from '../token-form.js';
import { oauthBodyLimit } from './token.js';

/**
 * RFC 7662 introspection and RFC 7009 revocation, for agents about their own tokens. Form-encoded
 * `token` (`token_type_hint` is accepted and ignored: creddy issues access tokens only). The agent
 * authenticates with `Authorization: Bearer` (its `ckr_` token or a client assertion) or with
 * `client_assertion` in the form (`private_key_jwt`); a failure is `401 invalid_client`, audited
 * and throttled like every failed authentication. Answers carry `Cache-Control: no-store`.
 */
export function oauthRoutes(services: Services, federation: Federation, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  /** The form, the agent it authenticates, and the token it names. */
  const read = async (c: Context<AppEnv>): Promise<{ caller: Caller; token: string }> => {
    const form: FormParams = await readForm(c);
    const assertion = formAssertion(form);
    let caller: Caller;
    try {
      caller = await authenticateRequest(services, federation, throttle, c, { spend: false, agentsOnly: true, assertion });
    } catch (err) {
      throw isCreddyError(err) ? clientAuthFailure(err) : err;
    }
    const token = form.one('token');
    if (token === undefined) throw new CreddyError('ERR_BAD_REQUEST', 'token: is required', { details: { field: 'token' } });
    return { caller, token };
  };
  const context = (c: Context<AppEnv>, caller: Caller) => ({ caller, clientIp: clientIp(c), requestId: c.get('requestId') });

  app.post(INTROSPECTION_PATH, oauthBodyLimit(), async (c) => {
    const { caller, token } = await read(c);
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json(await introspectToken(services, context(c, caller), token));
  });

  app.post(REVOCATION_PATH, oauthBodyLimit(), async (c) => {
    const { caller, token } = await read(c);
    await revokeToken(services, context(c, caller), token);
    c.header('Cache-Control', 'no-store');
    return c.body(null, 200);
  });

  app.onError(oauthErrorHandler(services.logger));
  return app;
}
