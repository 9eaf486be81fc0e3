import { timeoutSignal } from '../../_utils/abort.js';
import { redactCapped } from '../../_utils/redact.js';
import { CreddyError } from '../../errors.js';
import { statusClass, type UpstreamStatus } from '../../metrics/port.js';

/** Attempts per GitHub call (the first try plus retries), all inside the caller's deadline. */
export const MAX_ATTEMPTS = 4;
/** The longest Retry-After creddy waits for; longer means "not within this request". */
export const MAX_RETRY_AFTER_MS = 10_000;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 3_000;

/** One GitHub REST call. `parse` validates a 2xx body and returns undefined if it is malformed. */
export interface GitHubCall<T> {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly authorization: string;
  readonly body?: unknown;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  readonly parse: (status: number, json: unknown) => T | undefined;
  readonly maxAttempts?: number;
  /** Told how each attempt ended (a metric). */
  readonly observe?: ((status: UpstreamStatus) => void) | undefined;
}

/** Why an attempt failed and whether another one may help. */
interface Failure {
  readonly status: number | null;
  readonly problem: string;
  readonly retry: boolean;
  readonly waitMs?: number;
  /** The network error behind a failure without a status (for the server log, never the caller). */
  readonly cause?: unknown;
}

/**
 * Calls GitHub with bounded retries: 5xx, timeouts, connection errors, malformed bodies and
 * secondary rate limits (honouring Retry-After up to 10 s) are retried with jittered backoff;
 * any other answer fails at once. The final failure is a 502 ERR_BACKEND_UPSTREAM whose message
 * names GitHub's status and is safe to show the caller: it never holds a token.
 */
export async function callGitHub<T>(baseUrl: string, call: GitHubCall<T>): Promise<T> {
  const attempts = call.maxAttempts ?? MAX_ATTEMPTS;
  let last: Failure = { status: null, problem: 'was not called', retry: false };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (call.signal.aborted) return deadline(attempt - 1, last);
    const outcome = await attemptOnce(baseUrl, call);
    if (outcome.ok) return outcome.value;
    last = outcome.failure;
    if (!last.retry) throw upstream(`GitHub answered ${last.status}: ${last.problem}`, last.status);
    if (attempt === attempts) break;
    const waitMs = last.waitMs ?? backoff(attempt);
    if (waitMs > MAX_RETRY_AFTER_MS)
      throw upstream(`GitHub answered ${last.status}: ${last.problem}; retry after ${Math.ceil(waitMs / 1000)}s`, last.status);
    if (!(await sleep(waitMs, call.signal))) return deadline(attempt, last);
  }
  throw upstream(`GitHub ${describe(last)} after ${attempts} attempts`, last.status, last.cause);
}

async function attemptOnce<T>(baseUrl: string, call: GitHubCall<T>): Promise<{ ok: true; value: T } | { ok: false; failure: Failure }> {
  let response: Response;
  let text: string;
  const attempt = timeoutSignal(call.signal, call.timeoutMs);
  try {
    response = await fetch(`${baseUrl}${call.path}`, {
      method: call.method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: call.authorization,
        'user-agent': 'creddy',
        'x-github-api-version': '2022-11-28',
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      signal: attempt.signal,
    });
    text = await response.text();
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
    call.observe?.(timedOut ? 'timeout' : 'unreachable');
    return { ok: false, failure: { status: null, problem: timedOut ? 'timed out' : 'unreachable', retry: true, cause: err } };
  } finally {
    attempt.clear();
  }
  const { status } = response;
  call.observe?.(statusClass(status));
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300) {
    const value = call.parse(status, json);
    if (value === undefined) return { ok: false, failure: { status, problem: 'malformed response body', retry: true } };
    return { ok: true, value };
  }
  const message = messageOf(json);
  if (status >= 500) return { ok: false, failure: { status, problem: message, retry: true } };
  const retryAfter = Number(response.headers.get('retry-after'));
  const secondary =
    (status === 403 || status === 429) && (/secondary rate limit/i.test(message) || (Number.isFinite(retryAfter) && retryAfter > 0));
  if (secondary) {
    return {
      ok: false,
      failure: { status, problem: 'secondary rate limit', retry: true, ...(retryAfter > 0 ? { waitMs: retryAfter * 1000 } : {}) },
    };
  }
  return { ok: false, failure: { status, problem: message, retry: false } };
}

/** GitHub's own error message, cut short and scrubbed; safe for clients. */
function messageOf(json: unknown): string {
  const message = typeof json === 'object' && json !== null ? (json as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message.length > 0 ? redactCapped(message, 200) : 'no message';
}

function describe(f: Failure): string {
  if (f.status === null) return f.problem === 'timed out' ? 'did not answer in time' : 'could not be reached';
  return f.problem === 'malformed response body' ? `sent a malformed response (${f.status})` : `answered ${f.status}: ${f.problem}`;
}

function deadline(attempts: number, last: Failure): never {
  const tail = attempts > 0 ? ` (last: ${describe(last)})` : '';
  throw upstream(`GitHub did not issue a token within the deadline after ${attempts} attempts${tail}`, last.status, last.cause);
}

function upstream(message: string, status: number | null, cause?: unknown): CreddyError {
  // The network reason (ECONNREFUSED, ENOTFOUND, a TLS failure) is kept as the cause: the server
  // log and the audit row name it under the request id; the caller sees only the message.
  return new CreddyError('ERR_BACKEND_UPSTREAM', message, {
    expose: true,
    ...(cause === undefined ? {} : { cause }),
    details: { upstream: 'github', upstream_status: status },
  });
}

/** Full jitter on a capped exponential: spreads retries of many callers after one outage. */
function backoff(attempt: number): number {
  const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

/** Waits `ms` unless `signal` fires first; false when it did. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
