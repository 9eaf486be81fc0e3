import { Hono } from 'hono';
import { revocationStatus } from '../../credentials/status.js';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { DPOP_ALGORITHMS } from '../../verify/dpop.js';
import type { AuthorizationServerMetadata, DiscoveryDocument } from '../../wire.js';
import { type AppEnv, CREDENTIAL_ID_RE, requestHeader } from '../context.js';
import { JWKS_PATH, jwksResponder } from '../jwks-response.js';
import { INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH } from '../oauth-paths.js';
import { CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT } from '../token-form.js';

/** RFC 8414 metadata: every endpoint, how callers authenticate at each, and the DPoP algorithms. */
export function authorizationServerMetadata(issuer: string): AuthorizationServerMetadata {
  const agentAuth = ['private_key_jwt'];
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}${TOKEN_PATH}`,
    introspection_endpoint: `${issuer}${INTROSPECTION_PATH}`,
    revocation_endpoint: `${issuer}${REVOCATION_PATH}`,
    grant_types_supported: [CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
    introspection_endpoint_auth_methods_supported: agentAuth,
    introspection_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
    revocation_endpoint_auth_methods_supported: agentAuth,
    revocation_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
    response_types_supported: [],
    credentials_endpoint: `${issuer}/v1/credentials`,
    revocation_status_endpoint: `${issuer}/v1/revocations/{jti}`,
  };
}

/** Public, unauthenticated discovery: JWKS, metadata, and revocation status of a jti. */
export function wellKnownRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { issuer } = services.config;
  const metadata = authorizationServerMetadata(issuer);
  const discovery: DiscoveryDocument = {
    ...metadata,
    id_token_signing_alg_values_supported: ['EdDSA'],
    token_signing_alg_values_supported: ['EdDSA'],
    token_types_supported: ['at+jwt'],
  };

  // The same answer the server's fast path gives (http/jwks-response.ts); this route serves
  // HEAD, `app.request()` in tests, and any request the fast path passes on. Not a hot path, so
  // the headers go on hono's response: set on the Node response, @hono/node-server's default
  // `text/plain` replaced the Content-Type.
  const jwks = jwksResponder(services);
  app.get(JWKS_PATH, (c) => {
    const answer = jwks(requestHeader(c, 'if-none-match'));
    return answer.status === 304 ? c.body(null, 304, answer.headers) : c.body(answer.body, 200, answer.headers);
  });

  app.get('/.well-known/oauth-authorization-server', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.json(metadata);
  });

  app.get('/.well-known/openid-configuration', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.json(discovery);
  });

  app.get('/v1/revocations/:jti', async (c) => {
    const jti = c.req.param('jti');
    if (!CREDENTIAL_ID_RE.test(jti)) throw new CreddyError('ERR_BAD_REQUEST', 'jti: malformed', { details: { field: 'jti' } });
    const status = await revocationStatus(services, jti, c.get('requestId'));
    c.header('Cache-Control', 'no-store');
    return c.json(status);
  });

  return app;
}
