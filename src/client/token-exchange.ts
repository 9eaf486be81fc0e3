import { CreddyError } from '../errors.js';
import { decodeJsonSegment } from '../verify/base64url.js';
import type { DownstreamCredential, IssueResponse } from '../wire.js';
import type { BrokerCall } from './http.js';
import type { CredentialRequest } from './request.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** RFC 8693 §2.2.1 answer, plus creddy's downstream credential when the backend has one. */
interface TokenResponse {
  readonly access_token?: unknown;
  readonly token_type?: unknown;
  readonly expires_in?: unknown;
  readonly scope?: unknown;
  readonly credential?: DownstreamCredential | null;
}

/** Where the broker takes token requests: RFC 8414 metadata first, then its OpenID discovery document. */
export async function findTokenEndpoint(call: BrokerCall): Promise<string> {
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    const metadata = await call<{ token_endpoint?: unknown }>('GET', path).catch((err: unknown): { token_endpoint?: unknown } => {
      if (err instanceof CreddyError && err.code === 'ERR_NOT_FOUND') return {};
      throw err;
    });
    if (typeof metadata.token_endpoint === 'string' && /^https?:\/\//.test(metadata.token_endpoint)) return metadata.token_endpoint;
  }
  throw new CreddyError(
    'ERR_NOT_READY',
    'the broker publishes no token_endpoint; OIDC token exchange needs a broker that supports federation',
  );
}

/**
 * Exchanges an OIDC ID token for a credential (RFC 8693): `subject_token` is the ID token, the
 * backend is the `audience`, the scopes go in `scope` (space-separated), and `ttl` is sent as an
 * extension parameter (servers ignore parameters they do not know, RFC 6749 §3.2). The answer is
 * returned in the shape of `POST /v1/credentials`, its fields read from the token's claims.
 */
export async function exchangeIdToken(
  call: BrokerCall,
  endpoint: string,
  idToken: string,
  request: CredentialRequest,
  dpopProof: string | undefined,
): Promise<IssueResponse> {
  if (request.metadata || request.params) {
    throw new CreddyError('ERR_USAGE', 'metadata and backend params are not part of an OIDC token exchange; use an agent for them');
  }
  const form: Record<string, string> = {
    grant_type: TOKEN_EXCHANGE,
    subject_token: idToken,
    subject_token_type: ID_TOKEN,
    audience: request.backend,
    ...(request.scopes?.length ? { scope: request.scopes.join(' ') } : {}),
    ...(request.ttl === undefined ? {} : { ttl: String(request.ttl) }),
  };
  const answer = await call<TokenResponse>('POST', endpoint, { form, headers: dpopProof ? { dpop: dpopProof } : {} });
  const token = answer.access_token;
  const claims = typeof token === 'string' ? decodeJsonSegment(token.split('.')[1] ?? '') : undefined;
  if (typeof token !== 'string' || !claims || typeof claims['exp'] !== 'number' || typeof claims['jti'] !== 'string') {
    throw new CreddyError('ERR_INTERNAL', 'the token endpoint answered without a creddy access token', { expose: true });
  }
  const exp = claims['exp'];
  const scope = typeof answer.scope === 'string' ? answer.scope : typeof claims['scope'] === 'string' ? claims['scope'] : '';
  const metadata = claims['metadata'];
  return {
    id: claims['jti'],
    token,
    expires_at: new Date(exp * 1000).toISOString(),
    backend: typeof claims['backend'] === 'string' ? claims['backend'] : request.backend,
    scopes: scope.split(' ').filter(Boolean),
    metadata: metadata && typeof metadata === 'object' ? (metadata as Record<string, string>) : null,
    ttl: {
      requested: typeof request.ttl === 'number' ? request.ttl : null,
      granted: typeof answer.expires_in === 'number' ? answer.expires_in : exp - Math.floor(Date.now() / 1000),
      clamped_by: null,
    },
    credential: answer.credential ?? null,
  };
}
