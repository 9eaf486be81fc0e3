import { CreddyError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { CredentialList, DiscoveryDocument, ErrorBody, IssueResponse, RevocationStatus, RevokeResponse } from '../wire.js';

/** A credential request as callers send it. */
export interface CredentialRequest {
  readonly backend: string;
  readonly scopes?: readonly string[];
  readonly ttl?: string | number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Backend-specific fields, e.g. `{ repositories: ['org/repo'] }` for github. */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** @deprecated Use `IssueResponse`: the same wire shape under the name the server uses. */
export type IssuedCredential = IssueResponse;

export interface CreddyClientOptions {
  /** Base URL of the broker, e.g. `http://127.0.0.1:8400`. */
  readonly url: string;
  /**
   * The bearer: an agent's `ckr_…` token or an OIDC ID token that a federation rule accepts. A
   * function is called for each request (and may cache), so a token that is fetched (GitHub
   * Actions) or rotated on disk (Kubernetes projected tokens) is read when it is needed.
   */
  readonly token?: string | (() => Promise<string>);
  readonly fetch?: typeof fetch;
  /** Per-request timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** Thin HTTP client for the creddy API, used by the CLI and by agents. */
export interface CreddyClient {
  readonly url: string;
  /** Issues a credential (`POST /v1/credentials`). */
  issue(request: CredentialRequest): Promise<IssueResponse>;
  /** The caller's active credentials, without secrets. */
  list(): Promise<CredentialList>;
  /** Revokes one of the caller's credentials by id. */
  revoke(id: string): Promise<RevokeResponse>;
  /** Public deny-list check for a jti. */
  revocationStatus(jti: string): Promise<RevocationStatus>;
  /** The broker's discovery document (issuer, jwks_uri, …). */
  discovery(): Promise<Partial<DiscoveryDocument>>;
}

/**
 * Creates a client. Server errors surface as CreddyError with the server's code, so callers
 * branch on `err.code` exactly as the server's tests do.
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
