import { CreddyError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { ErrorBody } from '../wire.js';

/** One request to the broker. */
export interface BrokerRequest {
  /** A JSON body. */
  readonly json?: unknown;
  /** A form body (`application/x-www-form-urlencoded`), as OAuth endpoints take. */
  readonly form?: Readonly<Record<string, string>> | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Sends requests to one broker and turns its answers into values or CreddyErrors. */
export type BrokerCall = <T>(method: string, pathOrUrl: string, request?: BrokerRequest) => Promise<T>;

/** RFC 6749 §5.2 error codes of OAuth endpoints, as creddy codes. */
const OAUTH_ERRORS: Readonly<Record<string, ErrorCode>> = {
  invalid_request: 'ERR_BAD_REQUEST',
  invalid_client: 'ERR_UNAUTHENTICATED',
  invalid_grant: 'ERR_UNAUTHENTICATED',
  unauthorized_client: 'ERR_FORBIDDEN',
  unsupported_grant_type: 'ERR_BAD_REQUEST',
  invalid_scope: 'ERR_SCOPE_DENIED',
  invalid_target: 'ERR_BACKEND_UNKNOWN',
  invalid_dpop_proof: 'ERR_DPOP_INVALID',
};

/**
 * The transport of the client SDK: one `fetch` per call with a timeout, JSON or form bodies,
 * and every failure as a CreddyError — the server's own code from a creddy error body, a mapped
 * code from an OAuth error body, `ERR_NOT_READY` when the broker cannot be reached.
 */
export function createBrokerCall(base: string, doFetch: typeof fetch, timeoutMs: number): BrokerCall {
  return async <T>(method: string, pathOrUrl: string, request: BrokerRequest = {}): Promise<T> => {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${base}${pathOrUrl}`;
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    let body: string | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.json);
    } else if (request.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(request.form as Record<string, string>).toString();
    }
    let response: Response;
    try {
      response = await doFetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(timeoutMs) });
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
    if (!response.ok) throw errorOf(parsed, response.status);
    return parsed as T;
  };
}

function errorOf(parsed: unknown, status: number): CreddyError {
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error === 'string') {
    // An OAuth endpoint: { error, error_description }, and creddy's own code beside them.
    const { error_description: description, code: own } = parsed as { error_description?: unknown; code?: unknown };
    const code = typeof own === 'string' && Object.hasOwn(ERROR_CODES, own) ? (own as ErrorCode) : (OAUTH_ERRORS[error] ?? 'ERR_INTERNAL');
    return new CreddyError(code, `${error}${typeof description === 'string' ? `: ${description}` : ''}`, { expose: true });
  }
  const body = error as Partial<ErrorBody['error']> | undefined;
  const code = body?.code && Object.hasOwn(ERROR_CODES, body.code) ? (body.code as ErrorCode) : 'ERR_INTERNAL';
  return new CreddyError(code, body?.message ?? `HTTP ${status}`, { expose: true });
}
