import { CreddyError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { CredentialList, DiscoveryDocument, ErrorBody, IssueResponse, RevocationStatus, RevokeResponse } from '../wire.js';

/**
 * A credential request: the body of `POST /v1/credentials` (see `IssueRequestBody`), with
 * backend-specific fields gathered in `params`.
 */
export interface CredentialRequest {
  /** The configured backend to ask, e.g. `"my-github"`. */
  readonly backend: string;
  /** Scopes to request (default: the backend's `default_scopes`). Anything outside the ceiling fails the whole request. */
  readonly scopes?: readonly string[] | undefined;
  /** Lifetime: a duration (`"10m"`) or whole seconds; clamped to the backend's `max_ttl`. */
  readonly ttl?: string | number | undefined;
  /** A small string map recorded in the token and the audit log (e.g. `{ task: 'update-readme' }`). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** Backend-specific fields, e.g. `{ repositories: ['org/repo'] }` for github. */
  readonly params?: Readonly<Record<string, unknown>> | undefined;
}

/** @deprecated Use `IssueResponse`: the same wire shape under the name the server uses. */
export type IssuedCredential = IssueResponse;

/** Options of {@link createCreddyClient}. */
export interface CreddyClientOptions {
  /** Base URL of the broker, e.g. `http://127.0.0.1:8400`. */
  readonly url: string;
  /**
   * The bearer: an agent's `ckr_…` token or an OIDC ID token that a federation rule accepts;
   * needed by `issue`, `list` and `revoke`, not by the public calls. A function is called for
   * each request (and may cache), so a token that is fetched (GitHub Actions) or rotated on disk
   * (Kubernetes projected tokens) is read when it is needed.
   */
  readonly token?: string | (() => Promise<string>) | undefined;
  /** The `fetch` to use (default: the global one), e.g. one with a proxy agent or a test double. */
  readonly fetch?: typeof fetch | undefined;
  /** Per-request timeout in ms (default 30 s). */
  readonly timeoutMs?: number | undefined;
}

/**
 * Thin HTTP client for the creddy API, used by the CLI and by agents. Every method rejects with
 * a {@link CreddyError} carrying the server's code (`ERR_SCOPE_DENIED`, …), or `ERR_NOT_READY`
 * when the broker cannot be reached.
 */
export interface CreddyClient {
  /** The broker's base URL, without a trailing slash. */
  readonly url: string;
  /** Issues a credential (`POST /v1/credentials`). */
  issue(request: CredentialRequest): Promise<IssueResponse>;
  /** The caller's active credentials, without secrets (`GET /v1/credentials`). */
  list(): Promise<CredentialList>;
  /** Revokes one of the caller's credentials by id (`DELETE /v1/credentials/:id`). */
  revoke(id: string): Promise<RevokeResponse>;
  /** Public deny-list check for a jti (`GET /v1/revocations/:jti`); `ERR_NOT_FOUND` for a jti the broker never issued. */
  revocationStatus(jti: string): Promise<RevocationStatus>;
  /** The broker's discovery document (issuer, jwks_uri, …); no token needed. */
  discovery(): Promise<Partial<DiscoveryDocument>>;
}

/**
 * Creates a client for one broker. The options are checked here (the URL must be http(s)); no
 * request is made until a method is called. Server errors surface as {@link CreddyError} with the
 * server's code, so callers branch on `err.code` exactly as the server's tests do.
 *
 * @param options - The broker URL, the agent token, and optionally `fetch` and a timeout.
 * @returns A client; share one per broker and token.
 * @throws {@link CreddyError} `ERR_USAGE` when `url` is not an http(s) URL.
 *
 * @example
 * ```ts
 * import { createCreddyClient } from 'creddy/client';
 *
 * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', token: process.env.CREDDY_TOKEN });
 * const issued = await client.issue({ backend: 'demo', scopes: ['read'], ttl: '10m' });
 * console.log(issued.id, issued.expires_at, issued.ttl.clamped_by); // clamped_by: null or 'max_ttl'
 * ```
 */
export function createCreddyClient(options: CreddyClientOptions): CreddyClient {
  const base = options.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new CreddyError('ERR_USAGE', `CREDDY_URL must be an http(s) URL, got "${options.url}"`);
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;

  const call = async <T>(method: string, path: string, body?: unknown, auth = true): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (auth) {
      const token = typeof options.token === 'function' ? await options.token() : options.token;
      if (!token) throw new CreddyError('ERR_USAGE', 'CREDDY_TOKEN is not set');
      headers['authorization'] = `Bearer ${token}`;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CreddyError('ERR_NOT_READY', `cannot reach creddy at ${base}: ${(err as Error).message}`, { cause: err, expose: true });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CreddyError('ERR_INTERNAL', `creddy at ${base} answered ${response.status} with a non-JSON body`, { expose: true });
    }
    if (!response.ok) {
      const error = (parsed as Partial<ErrorBody>).error as Partial<ErrorBody['error']> | undefined;
      const code = error?.code && Object.hasOwn(ERROR_CODES, error.code) ? (error.code as ErrorCode) : 'ERR_INTERNAL';
      throw new CreddyError(code, error?.message ?? `HTTP ${response.status}`, { expose: true });
    }
    return parsed as T;
  };

  return {
    url: base,
    issue: (request) =>
      call('POST', '/v1/credentials', {
        backend: request.backend,
        ...(request.scopes ? { scopes: request.scopes } : {}),
        ...(request.ttl !== undefined ? { ttl: request.ttl } : {}),
        ...(request.metadata ? { metadata: request.metadata } : {}),
        ...request.params,
      }),
    list: () => call('GET', '/v1/credentials'),
    revoke: (id) => call('DELETE', `/v1/credentials/${encodeURIComponent(id)}`),
    revocationStatus: (jti) => call('GET', `/v1/revocations/${encodeURIComponent(jti)}`, undefined, false),
    discovery: () => call('GET', '/.well-known/openid-configuration', undefined, false),
  };
}
