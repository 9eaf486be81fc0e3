import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { federationDiagnosis } from '../../agents/federation/denied.js';
import { decode, type Federation } from '../../agents/federation/index.js';
import { issueCredential } from '../../credentials/issue.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { TokenExchangeResponse } from '../../wire.js';
import { type AppEnv, clientIp } from '../context.js';
import { recordAuthFailure } from '../middleware/auth-failures.js';
import type { AuthThrottle } from '../middleware/throttle.js';
import { oauthErrorHandler } from '../oauth-error.js';
import { ACCESS_TOKEN_TYPE, readTokenExchange } from '../token-form.js';

/** Path of the token endpoint, announced in discovery as `token_endpoint`. */
export const TOKEN_PATH = '/oauth/token';
/** A token-exchange form carries one ID token (GitHub's are ~1.5 KiB). */
const TOKEN_BODY_LIMIT = 16 * 1024;

/**
 * The RFC 8693 token-exchange endpoint: an OIDC ID token in, a credential for one backend out.
 * Same policy as `POST /v1/credentials` with the ID token as bearer: the same federation
 * check (the token is spent here under `single_use`), the same issuance use case. Its own error
 * handler answers OAuth-style errors; it sits outside `/v1/*` so even a too-large body does.
 */
export function tokenRoutes(services: Services, federation: Federation, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // On the route itself: a path-less `use()` of a mounted router would run for every route, and a
  // path one for other methods too, turning their 404 into an OAuth error.
  const limit = bodyLimit({
    maxSize: TOKEN_BODY_LIMIT,
    onError: () => {
      throw new CreddyError('ERR_BODY_TOO_LARGE', `request body exceeds ${TOKEN_BODY_LIMIT} bytes`);
    },
  });
  app.post(TOKEN_PATH, limit, async (c) => {
    const form = await readTokenExchange(c);
    const requestId = c.get('requestId');
    let caller: Awaited<ReturnType<Federation['authenticate']>>;
    try {
      if (!decode(form.subjectToken)) throw new CreddyError('ERR_ID_TOKEN_INVALID', 'subject_token is not an ID token (a JWT)');
      caller = await federation.authenticate(form.subjectToken, { requestId, spend: true });
    } catch (err) {
      throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err, federationDiagnosis(err)) : err;
    }
    const issued = await issueCredential(
      services,
      { caller, clientIp: clientIp(c), requestId },
      { backend: form.backend, scopes: form.scopes, ttl: form.ttl, metadata: null, params: {} },
    );
    const body: TokenExchangeResponse = {
      access_token: issued.token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: issued.ttl.granted,
      scope: issued.scopes.join(' '),
      credential: issued.credential,
      id: issued.id,
      backend: issued.backend,
      expires_at: issued.expires_at,
      ttl: issued.ttl,
    };
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json(body);
  });
  app.onError(oauthErrorHandler(services.logger));
  return app;
}
