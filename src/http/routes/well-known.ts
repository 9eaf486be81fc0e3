import { Hono } from 'hono';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, CREDENTIAL_ID_RE, requestHeader } from '../context.js';

/** Public, unauthenticated discovery: JWKS, metadata, and revocation status of a jti. */
export function wellKnownRoutes(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { issuer, keys } = services.config;

  app.get('/.well-known/jwks.json', (c) => {
    const jwks = services.keyring.jwks();
    // Up to 10% jitter below jwks_max_age so a fleet of verifiers does not refetch in lock-step;
    // never above it, so a newly published key reaches every cache before it signs.
    const maxAge = Math.max(0, keys.jwksMaxAge - Math.floor(Math.random() * Math.ceil(keys.jwksMaxAge * 0.1)));
    c.header('Cache-Control', `public, max-age=${maxAge}`);
    c.header('ETag', jwks.etag);
    if (requestHeader(c, 'if-none-match') === jwks.etag) return c.body(null, 304);
    return c.body(jwks.body, 200, { 'Content-Type': 'application/jwk-set+json' });
  });

  app.get('/.well-known/openid-configuration', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.json({
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      credentials_endpoint: `${issuer}/v1/credentials`,
      revocation_status_endpoint: `${issuer}/v1/revocations/{jti}`,
      id_token_signing_alg_values_supported: ['EdDSA'],
      token_signing_alg_values_supported: ['EdDSA'],
      token_types_supported: ['at+jwt'],
    });
  });

  app.get('/v1/revocations/:jti', async (c) => {
    const jti = c.req.param('jti');
    if (!CREDENTIAL_ID_RE.test(jti)) throw new CreddyError('ERR_BAD_REQUEST', 'jti: malformed', { details: { field: 'jti' } });
    const record = await services.store.credentials.get(jti);
    if (!record) throw new CreddyError('ERR_NOT_FOUND', `unknown jti ${jti}`);
    // A revoked signing key revokes every token it signed, at once (the JWKS follows within 1 s).
    const keyRevoked =
      record.revokedAt === null && (await services.store.keys.list()).some((k) => k.kid === record.kid && k.state === 'revoked');
    c.header('Cache-Control', 'no-store');
    return c.json({ jti, revoked: record.revokedAt !== null || keyRevoked, kid: record.kid });
  });

  return app;
}
