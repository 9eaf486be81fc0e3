import { timeoutSignal } from '../../_utils/abort.js';
import { requestNeverSent } from '../../_utils/never-sent.js';
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

/** One failed attempt as the audit row names it: GitHub's status (null: no answer) and why. */
export interface AttemptFailure {
  readonly status: number | null;
  readonly problem: string;
}

/** A successful call and the attempts it took. */
export interface Tracked<T> {
  readonly value: T;
  readonly attempts: number;
  /** The failed attempts before the one that succeeded, oldest first. */
  readonly failures: readonly AttemptFailure[];
}

/** Why an attempt failed and whether another one may help. */
interface Failure extends AttemptFailure {
  readonly retry: boolean;
  readonly waitMs?: number;
  /**
   * The request may have reached GitHub and been acted on, but no usable answer came back: a
   * timeout or a connection closed after the request went out, a 2xx whose body could not be
   * read, a gateway's 502 or 504. Repeating a POST then may do its work twice.
   */
  readonly answerLost?: boolean;
  /** The network error behind a failure without a status (for the server log, never the caller). */
  readonly cause?: unknown;
}

/**
 * Calls GitHub with bounded retries: 5xx, timeouts, connection errors, malformed bodies and
 * secondary rate limits (honouring Retry-After up to 10 s) are retried with jittered backoff;
 * any other answer fails at once. The final failure is a 502 ERR_BACKEND_UPSTREAM whose message
 * names GitHub's status and is safe to show the caller: it never holds a token.
 *
 * A POST (`POST /app/installations/{id}/access_tokens`: each one GitHub acts on makes a token) is
 * not repeated after an attempt whose answer was lost (`Failure.answerLost`): GitHub may have made
 * a token creddy never received, and a retry would make a second one, leaving the first live and
 * unrecorded. That failure says so (`details.downstream_may_exist`) so the audit row records it. A
 * POST is still retried when the connection was never made (the request never left) and on
 * GitHub's own answers that it failed (500, 503, secondary rate limits); the attempts and their
 * failures go in the error's details and in {@link Tracked}.
 */
export async function callGitHub<T>(baseUrl: string, call: GitHubCall<T>): Promise<T> {
  return (await callGitHubTracked(baseUrl, call)).value;
}

/** {@link callGitHub}, also telling how many attempts it took and which failed. */
export async function callGitHubTracked<T>(baseUrl: string, call: GitHubCall<T>): Promise<Tracked<T>> {
  const attempts = call.maxAttempts ?? MAX_ATTEMPTS;
  const repeatable = call.method !== 'POST';
  const failures: Failure[] = [];
  const fail = (message: string, last: Failure, cause?: unknown): never => {
    throw upstream(message, last.status, cause, failures, !repeatable && last.answerLost === true);
  };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (call.signal.aborted) return deadline(failures);
    const outcome = await attemptOnce(baseUrl, call);
    if (outcome.ok)
      return { value: outcome.value, attempts: attempt, failures: failures.map(({ status, problem }) => ({ status, problem })) };
    const last = outcome.failure;
    failures.push(last);
    if (!last.retry) fail(`GitHub answered ${last.status}: ${last.problem}`, last);
    if (last.answerLost && !repeatable) {
      fail(
        `GitHub ${describe(last)}; not retried: GitHub may have made a token creddy did not receive (the audit log records it; it ends within 1 h)`,
        last,
        last.cause,
      );
    }
    if (attempt === attempts) break;
    const waitMs = last.waitMs ?? backoff(attempt);
    if (waitMs > MAX_RETRY_AFTER_MS)
      fail(`GitHub answered ${last.status}: ${last.problem}; retry after ${Math.ceil(waitMs / 1000)}s`, last);
    if (!(await sleep(waitMs, call.signal))) return deadline(failures);
  }
  const last = failures.at(-1)!;
  return fail(`GitHub ${describe(last)} after ${attempts} attempts`, last, last.cause);
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
    // Only a connection never made proves GitHub did not get the request; a reset, a closed
    // socket or a timeout may come after GitHub acted on it.
    const neverSent = !timedOut && requestNeverSent(err);
    const problem = timedOut ? 'timed out' : neverSent ? 'unreachable' : 'connection closed';
    return { ok: false, failure: { status: null, problem, retry: true, answerLost: !neverSent, cause: err } };
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
    // GitHub did the work (a 201 is a token made); only the answer is unreadable.
    if (value === undefined) return { ok: false, failure: { status, problem: 'malformed response body', retry: true, answerLost: true } };
    return { ok: true, value };
  }
  const message = messageOf(json);
  // A 502 or 504 is a gateway's: it got no valid answer, or none in time, from the server behind
  // it, which may have acted on the request all the same. A 500 or 503 is GitHub saying it failed.
  if (status >= 500) return { ok: false, failure: { status, problem: message, retry: true, answerLost: status === 502 || status === 504 } };
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
  if (f.status === null) {
    if (f.problem === 'timed out') return 'did not answer in time';
    return f.problem === 'unreachable' ? 'could not be reached' : 'closed the connection without an answer';
  }
  return f.problem === 'malformed response body' ? `sent a malformed response (${f.status})` : `answered ${f.status}: ${f.problem}`;
}

function deadline(failures: readonly Failure[]): never {
  const last = failures.at(-1);
  const tail = last ? ` (last: ${describe(last)})` : '';
  throw upstream(
    `GitHub did not issue a token within the deadline after ${failures.length} attempts${tail}`,
    last?.status ?? null,
    last?.cause,
    failures,
    false,
  );
}

/**
 * The 502 for the caller and the audit row. `details` hold the attempts made and how each failed
 * (GitHub's status and its scrubbed message, never a token), and `downstream_may_exist` when the
 * last attempt may have made a token creddy did not receive.
 */
function upstream(message: string, status: number | null, cause: unknown, failures: readonly Failure[], mayExist: boolean): CreddyError {
  // The network reason (ECONNREFUSED, ENOTFOUND, a TLS failure) is kept as the cause: the server
  // log and the audit row name it under the request id; the caller sees only the message.
  return new CreddyError('ERR_BACKEND_UPSTREAM', message, {
    expose: true,
    ...(cause === undefined ? {} : { cause }),
    details: {
      upstream: 'github',
      upstream_status: status,
      upstream_attempts: failures.length,
      upstream_failures: failures.map(({ status: s, problem }) => ({ status: s, problem })),
      ...(mayExist ? { downstream_may_exist: true } : {}),
    },
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
