import { CreddyError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { discardBody, readCapped } from '../verify/read-capped.js';
import type { ErrorBody } from '../wire.js';
import { shownUrl, withoutUserinfo } from './broker-url.js';

/**
 * Largest answer the client reads by default (8 MiB). The broker's largest are a `type: secret`
 * credential (at most 100 values of at most 32 KiB each) and a list of 1,000 credentials: well
 * under it. Anything larger is not an answer this client can use, and reading it whole first
 * (`response.text()`) would let whatever answers at the broker's URL fill the caller's memory.
 */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** One request to the broker. */
export interface BrokerRequest {
  /** A JSON body. */
  readonly json?: unknown;
  /** A form body (`application/x-www-form-urlencoded`), as OAuth endpoints take. */
  readonly form?: Readonly<Record<string, string>> | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * Sends requests to one broker and turns its answers into values or CreddyErrors. With `check`,
 * a successful answer is shape-checked (answers.ts) before it is returned.
 */
export type BrokerCall = <T>(
  method: string,
  pathOrUrl: string,
  request?: BrokerRequest,
  check?: (value: unknown, from: string) => T,
) => Promise<T>;

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
 * What an answer that is not creddy's own error body means, by status: a proxy's 502 page, a
 * load balancer's empty 503, a gateway's 429. The gateway and overload statuses say "retry", as
 * a broker that cannot be reached does.
 */
const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'ERR_BAD_REQUEST',
  401: 'ERR_UNAUTHENTICATED',
  403: 'ERR_FORBIDDEN',
  404: 'ERR_NOT_FOUND',
  408: 'ERR_NOT_READY',
  409: 'ERR_CONFLICT',
  413: 'ERR_BODY_TOO_LARGE',
  415: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  429: 'ERR_RATE_LIMITED',
  502: 'ERR_NOT_READY',
  503: 'ERR_NOT_READY',
  504: 'ERR_NOT_READY',
};

/** Longest message taken from an answer: a server's words in an error are bounded, whoever wrote them. */
const MAX_MESSAGE = 500;

/**
 * The transport of the client SDK: one `fetch` per call with a timeout (body included), JSON or
 * form bodies, and every failure as a CreddyError — the server's own code from a creddy error
 * body, a mapped code from an OAuth error body, a code by HTTP status for any other answer
 * (`BY_STATUS`), `ERR_NOT_READY` when the broker cannot be reached or its answer breaks off.
 * The body of an answer that is not creddy's is never put into a message: it may be anything,
 * up to a proxy echoing the request with its `Authorization` header. Redirects are not followed
 * (`redirect: 'manual'`): the broker never redirects, and a redirected POST would arrive as a GET
 * without its `Authorization`, or land at another JSON endpoint whose answer would pass for the
 * broker's. A 3xx is an error naming the status and the `Location` (origin and path only).
 * `base` has no user info (broker-url.ts), and neither has any message here.
 */
export function createBrokerCall(base: string, doFetch: typeof fetch, timeoutMs: number, maxBytes = MAX_RESPONSE_BYTES): BrokerCall {
  return async <T>(
    method: string,
    pathOrUrl: string,
    request: BrokerRequest = {},
    check?: (value: unknown, from: string) => T,
  ): Promise<T> => {
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
    let response: Response | undefined;
    let text: string | null;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      response = await doFetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        redirect: 'manual',
        signal,
      });
      if (isRedirect(response)) {
        discardBody(response);
        throw redirectError(response, url, base);
      }
      // Inside the try: with the global fetch the body streams in after the headers, and a broker
      // that stalls or drops the connection mid-body fails here (TimeoutError, "terminated").
      // Read up to the cap, chunk by chunk: null past it, with the rest never read.
      text = await readCapped(response, maxBytes);
    } catch (err) {
      if (err instanceof CreddyError) throw err;
      // Which half of the answer never came: all of it, or the body after the headers (a broker
      // or proxy that stalls mid-answer) — and whether the wait ran out or the connection broke.
      const what = !response
        ? `cannot reach creddy at ${base}: no answer`
        : `creddy at ${base} answered ${response.status}, then its body ${timedOut(signal) ? 'stopped coming' : 'broke off'}`;
      throw new CreddyError('ERR_NOT_READY', `${what}: ${failureOf(err)}`, { cause: err, expose: true });
    }
    if (text === null) {
      discardBody(response);
      // A creddy error body is small: an error status with a huge body is someone else's answer,
      // and its status says what happened (a 503 page is still "retry").
      if (!response.ok) throw errorOf(undefined, response, base);
      throw new CreddyError('ERR_RESPONSE_TOO_LARGE', `${answered(base, response)} with a body larger than ${maxBytes} bytes`, {
        expose: true,
        details: { status: response.status, max_bytes: maxBytes },
      });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = undefined;
    }
    if (response.ok) {
      if (parsed === undefined)
        throw new CreddyError('ERR_INTERNAL', `${answered(base, response)} with a body that is not JSON`, {
          expose: true,
          ...requestIdOf(undefined, response),
        });
      if (!check) return parsed as T;
      try {
        return check(parsed, `creddy at ${base}`);
      } catch (err) {
        if (!(err instanceof CreddyError)) throw err;
        throw new CreddyError(err.code, err.message, {
          expose: true,
          ...(err.details ? { details: err.details } : {}),
          ...requestIdOf(parsed, response),
        });
      }
    }
    throw errorOf(parsed, response, base);
  };
}

/**
 * True when the request's own timeout ended it (`AbortSignal.timeout`), not a dropped connection
 * nor another abort.
 */
function timedOut(signal: AbortSignal | null | undefined): boolean {
  return signal?.aborted === true && (signal.reason as Error | undefined)?.name === 'TimeoutError';
}

function errorOf(parsed: unknown, response: Response, base: string): CreddyError {
  const status = response.status;
  const fallback: ErrorCode = BY_STATUS[status] ?? (status >= 400 && status < 500 ? 'ERR_BAD_REQUEST' : 'ERR_INTERNAL');
  const error = (parsed as { error?: unknown } | null | undefined)?.error;
  if (typeof error === 'string') {
    // An OAuth endpoint: { error, error_description }, and creddy's own code beside them.
    const { error_description: description, code: own } = parsed as { error_description?: unknown; code?: unknown };
    const said = bounded(`${error}${typeof description === 'string' ? `: ${description}` : ''}`);
    const known = isCode(own) ? own : OAUTH_ERRORS[error];
    const id = requestIdOf(parsed, response);
    return known
      ? new CreddyError(known, said, { expose: true, ...id })
      : new CreddyError(fallback, `${answered(base, response)}: ${said}`, { expose: true, details: { status }, ...id });
  }
  const body = error as Partial<ErrorBody['error']> | null | undefined;
  if (body && typeof body === 'object' && isCode(body.code)) {
    const message = typeof body.message === 'string' ? bounded(body.message) : `HTTP ${status}`;
    // The broker's `details` (the scope denied, the field at fault, retry_after…) are client-safe
    // by contract and what a caller branches on besides the code: kept, when they are an object.
    const details = plainObject(body.details);
    return new CreddyError(body.code, message, { expose: true, ...(details ? { details } : {}), ...requestIdOf(body, response) });
  }
  // Not creddy's answer (a proxy, a gateway, another service at this URL), or a code this client
  // does not know: the status decides.
  const type = bounded(response.headers.get('content-type')?.split(';')[0] ?? 'no content type', 80);
  return new CreddyError(fallback, `${answered(base, response)} (${type}), not a creddy error`, {
    expose: true,
    details: { status },
    ...requestIdOf(undefined, response),
  });
}

/** A request id as ids are written (the broker's: 12 base64url characters); anything else is not kept. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The broker's request id: `request_id` in its error body, else its `X-Request-Id` header. */
function requestIdOf(body: unknown, response: Response): { requestId?: string } {
  const inBody = (body as { request_id?: unknown } | null | undefined)?.request_id;
  const id = typeof inBody === 'string' ? inBody : response.headers.get('x-request-id');
  return typeof id === 'string' && REQUEST_ID.test(id) ? { requestId: id } : {};
}

/**
 * A 3xx, or what a browser makes of one under `redirect: 'manual'`: an opaque response (status
 * 0) that hides the status and the Location.
 */
function isRedirect(response: Response): boolean {
  return response.type === 'opaqueredirect' || [301, 302, 303, 307, 308].includes(response.status);
}

function redirectError(response: Response, url: string, base: string): CreddyError {
  if (response.type === 'opaqueredirect') {
    return new CreddyError(
      'ERR_INTERNAL',
      `creddy at ${base} answered with a redirect (the browser hides where to): not followed, the broker never redirects; check the client's url`,
      {
        expose: true,
        details: { status: 0 },
      },
    );
  }
  const location = response.headers.get('location');
  // Origin and path only: a query may carry a signed URL's signature or a token.
  const to = location ? shownUrl(location, url) : undefined;
  return new CreddyError(
    'ERR_INTERNAL',
    `${answered(base, response)}, a redirect ${to ? `to ${to}` : location ? 'to an unreadable Location' : 'without a Location'}: not followed, the broker never redirects; point the client's url at the broker itself`,
    { expose: true, details: { status: response.status, ...(to ? { location: to } : {}) }, ...requestIdOf(undefined, response) },
  );
}

/**
 * Why a request got no (whole) answer: the error's message, with the system's code when fetch
 * keeps it in the cause ("fetch failed (ECONNREFUSED)", as the CLI's transport says it), user
 * info of any URL in it removed (undici quotes a URL with credentials in its refusal).
 */
export function failureOf(err: unknown): string {
  const message = bounded(String((err as Error | undefined)?.message ?? err));
  const code = systemCodeOf(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * The system's code (`ECONNREFUSED`) of a failed request, wherever fetch keeps it in the cause
 * chain. Also what the CLI's ID-token request quotes (cli/oidc-token.ts).
 * @internal
 */
export function systemCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    // Happy eyeballs: one error per address tried, in an AggregateError.
    e = Array.isArray(errors) && errors.length > 0 ? errors[0] : cause;
  }
  return undefined;
}

/** A copy of `value` if it is a plain JSON object (not null, not an array), else undefined. */
function plainObject(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return { ...(value as Record<string, unknown>) };
}

function isCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

function answered(base: string, response: Response): string {
  const reason = response.statusText ? ` ${bounded(response.statusText, 80)}` : '';
  return `creddy at ${base} answered ${response.status}${reason}`;
}

/** `text` without control characters or URLs' user info, cut at `max` characters. */
function bounded(text: string | undefined, max = MAX_MESSAGE): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = withoutUserinfo(String(text ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '));
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
