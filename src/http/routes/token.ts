import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { federationDiagnosis } from '../../agents/federation/denied.js';
import { decode, type Federation } from '../../agents/federation/index.js';
import type { Caller } from '../../credentials/context.js';
import { issueCredential } from '../../credentials/issue.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { TokenExchangeResponse } from '../../wire.js';
import { type AppEnv, clientIp } from '../context.js';
import { issuanceProof } from '../issuance-proof.js';
import { recordAuthFailure } from '../middleware/auth-failures.js';
import { authenticateRequest } from '../middleware/require-caller.js';
import type { AuthThrottle } from '../middleware/throttle.js';
import { clientAuthFailure, oauthErrorHandler } from '../oauth-error.js';
import { TOKEN_PATH } from '../oauth-paths.js';
import { ACCESS_TOKEN_TYPE, readTokenRequest, type TokenRequest } from '../token-form.js';

/** A token form carries one ID token or client assertion (GitHub's ID tokens are ~1.5 KiB). */
export const OAUTH_BODY_LIMIT = 16 * 1024;

/** The body limit of the OAuth endpoints, answered as an OAuth error. */
export const oauthBodyLimit = () =>
  bodyLimit({
    maxSize: OAUTH_BODY_LIMIT,
    onError: () => {
      throw new CreddyError('ERR_BODY_TOO_LARGE', `request body exceeds ${OAUTH_BODY_LIMIT} bytes`);
    },
  });

/**
 * The token endpoint. Two grants, one issuance use case and the policy of `POST /v1/credentials`:
 * - `client_credentials` with RFC 7523 client authentication: a key-pair agent's assertion in
 *   `client_assertion`; the credential is the agent's own.
 * - the RFC 8693 token exchange: an OIDC ID token in, a credential for the federation rule it
 *   matches out (the token is spent here under `single_use`).
 * A `DPoP` proof for this URL binds the token to its key (`token_type: DPoP`). Its own error
 * handler answers OAuth-style errors; it sits outside `/v1/*` so even a too-large body does.
 */
export function tokenRoutes(services: Services, federation: Federation, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // On the route itself: a path-less `use()` of a mounted router would run for every route, and a
  // path one for other methods too, turning their 404 into an OAuth error.
  app.post(TOKEN_PATH, oauthBodyLimit(), async (c) => {
    const form = await readTokenRequest(c);
    const requestId = c.get('requestId');
    const caller = await tokenCaller(services, federation, throttle, c, form);
    const issued = await issueCredential(
      services,
      { caller, clientIp: clientIp(c), requestId },
      {
        backend: form.backend,
        scopes: form.scopes,
        ttl: form.ttl,
        metadata: null,
        params: {},
        dpop: issuanceProof(c, services.config.issuer),
      },
    );
    const body: TokenExchangeResponse = {
      access_token: issued.token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: issued.token_type,
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

/**
 * Who asks at the token endpoint: the agent whose assertion authenticates the client
 * (`client_credentials`; a failure is `401 invalid_client`), or the federated workload of the ID
 * token (the token exchange; a failure is `400 invalid_grant`). Failures are audited and throttled.
 */
async function tokenCaller(
  services: Services,
  federation: Federation,
  throttle: AuthThrottle,
  c: Context<AppEnv>,
  request: TokenRequest,
): Promise<Caller> {
  if (request.grant === 'client-credentials') {
    let agent: Caller;
    try {
      agent = await authenticateRequest(services, federation, throttle, c, { spend: true, agentsOnly: true, assertion: request.assertion });
    } catch (err) {
      throw isCreddyError(err) ? clientAuthFailure(err) : err;
    }
    if (request.clientId !== undefined && request.clientId !== agent.name) {
      throw clientAuthFailure(new CreddyError('ERR_UNAUTHENTICATED', 'client_id does not name the agent of the client assertion'));
    }
    return agent;
  }
  try {
    if (!decode(request.subjectToken)) throw new CreddyError('ERR_ID_TOKEN_INVALID', 'subject_token is not an ID token (a JWT)');
    return await federation.authenticate(request.subjectToken, { requestId: c.get('requestId'), spend: true });
  } catch (err) {
    throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err, federationDiagnosis(err)) : err;
  }
}
