import { CreddyError } from '../errors.js';
import { decodeJsonSegment } from '../verify/base64url.js';
import type { IssueResponse, TokenExchangeResponse } from '../wire.js';
import type { BrokerCall } from './http.js';
import { checkedIssuer, originOf } from './issuer.js';
import type { CredentialRequest } from './request.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** The broker's token endpoint: where the client sends requests, and the URL the broker names it by. */
export interface TokenEndpoint {
  /** The URL requests go to: the advertised one, moved onto the client's own broker URL. */
  readonly url: string;
  /** The URL in the broker's metadata (issuer + path): the `htu` of DPoP proofs sent there. */
  readonly advertised: string;
}

interface Metadata {
  readonly issuer?: unknown;
  readonly token_endpoint?: unknown;
}

/**
 * Where the broker takes token requests: RFC 8414 metadata first, then its OpenID discovery
 * document. The metadata's `issuer` must be the client's broker URL, or the issuer the caller
 * configured (`issuer`), else nothing is sent (issuer.ts says why). The advertised URL starts with
 * that issuer; a client that reaches the broker at another address (an internal name, a test port)
 * sends requests to that address with the same path, and signs its DPoP proofs for the advertised
 * URL, which is what the broker checks. An endpoint outside the issuer is used only on the broker
 * URL's own origin: the ID token never goes to a host the caller did not name.
 *
 * @throws {@link CreddyError} `ERR_ISSUER_MISMATCH` for another issuer or another origin.
 */
export async function findTokenEndpoint(call: BrokerCall, base: string, configuredIssuer: string | undefined): Promise<TokenEndpoint> {
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    const metadata = await call<Metadata>('GET', path).catch((err: unknown): Metadata => {
      if (err instanceof CreddyError && err.code === 'ERR_NOT_FOUND') return {};
      throw err;
    });
    const advertised = metadata.token_endpoint;
    if (typeof advertised !== 'string' || !/^https?:\/\//.test(advertised)) continue;
    const issuer = checkedIssuer(metadata.issuer, { url: base, issuer: configuredIssuer });
    if (advertised.startsWith(`${issuer}/`)) return { url: `${base}${advertised.slice(issuer.length)}`, advertised };
    // An origin ignores user info: an endpoint with it is not taken (it would be in messages).
    if (originOf(advertised) === undefined || originOf(advertised) !== originOf(base) || /^[a-z]+:\/\/[^/?#]*@/i.test(advertised)) {
      throw new CreddyError(
        'ERR_ISSUER_MISMATCH',
        `creddy at ${base} advertises its token endpoint on another origin (${originOf(advertised) ?? 'not a URL'}): the ID token is not sent there`,
        { expose: true, details: { url: base, origin: originOf(advertised) ?? null } },
      );
    }
    return { url: advertised, advertised };
  }
  throw new CreddyError(
    'ERR_NOT_READY',
    'the broker publishes no token_endpoint; OIDC token exchange needs a broker that supports federation',
  );
}

/**
 * Exchanges an OIDC ID token for a credential at the broker's token endpoint (RFC 8693):
 * `subject_token` is the ID token, the backend is the `audience`, the scopes go in `scope`
 * (space-separated), and `ttl` is creddy's extension parameter. With a DPoP proof the broker binds
 * the token to its key and answers `token_type: DPoP`. The answer is returned in the shape of
 * `POST /v1/credentials`; the broker sends those members alongside the standard ones.
 */
export async function exchangeIdToken(
  call: BrokerCall,
  endpoint: TokenEndpoint,
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
  const answer = await call<Partial<TokenExchangeResponse>>('POST', endpoint.url, { form, headers: dpopProof ? { dpop: dpopProof } : {} });
  const token = answer.access_token;
  const claims = typeof token === 'string' ? decodeJsonSegment(token.split('.')[1] ?? '') : undefined;
  if (typeof token !== 'string' || !claims || typeof claims['exp'] !== 'number' || typeof claims['jti'] !== 'string') {
    throw new CreddyError('ERR_INTERNAL', 'the token endpoint answered without a creddy access token', { expose: true });
  }
  const metadata = claims['metadata'];
  return {
    id: answer.id ?? claims['jti'],
    token,
    token_type: answer.token_type === 'DPoP' || claims['cnf'] !== undefined ? 'DPoP' : 'Bearer',
    expires_at: answer.expires_at ?? new Date(claims['exp'] * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    backend: answer.backend ?? (typeof claims['backend'] === 'string' ? claims['backend'] : request.backend),
    scopes: (typeof answer.scope === 'string' ? answer.scope : typeof claims['scope'] === 'string' ? claims['scope'] : '')
      .split(' ')
      .filter(Boolean),
    metadata: metadata && typeof metadata === 'object' ? (metadata as Record<string, string>) : null,
    ttl: answer.ttl ?? {
      requested: typeof request.ttl === 'number' ? request.ttl : null,
      granted: typeof answer.expires_in === 'number' ? answer.expires_in : claims['exp'] - Math.floor(Date.now() / 1000),
      clamped_by: null,
    },
    credential: answer.credential ?? null,
  };
}
