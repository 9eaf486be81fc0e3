import { formatDuration, parseDuration } from '../_utils/duration.js';
import { CreddyError } from '../errors.js';

/** How long a caller command waits for each answer of the broker when nothing says otherwise (the SDK's default). */
export const DEFAULT_CALLER_TIMEOUT_S = 30;

/**
 * The longest wait a caller command accepts: no broker answer takes an hour, and a timer past
 * 2^31 ms would fire at once (Node clamps it to 1 ms).
 */
const MAX_CALLER_TIMEOUT_S = 3600;

/**
 * `--timeout` for caller commands (`get`, `exec`, `list`, `revoke`, `git-credential`) and `verify`:
 * each request to the broker, and a caller's request for a GitHub Actions ID token (oidc-token.ts).
 */
export const timeoutArg = {
  timeout: {
    type: 'string',
    description: `How long to wait for each answer of the broker (and of a CI provider's ID token service), e.g. 5s or 2m (default: $CREDDY_TIMEOUT, else ${DEFAULT_CALLER_TIMEOUT_S}s)`,
    valueHint: 'DURATION',
  },
} as const;

/** A caller command's wait for each answer, and where that value came from (said when it runs out). */
export interface CallerTimeout {
  readonly seconds: number;
  readonly source: '--timeout' | 'CREDDY_TIMEOUT' | 'the default';
}

/** `--timeout` wins; else `CREDDY_TIMEOUT`; else 30 s. ERR_USAGE for a value that is not 1 s to 1 h. */
export function callerTimeout(flag: string | undefined, env: NodeJS.ProcessEnv): CallerTimeout {
  const fromEnv = env['CREDDY_TIMEOUT']?.trim();
  const [raw, source] =
    flag !== undefined
      ? [flag, '--timeout' as const]
      : fromEnv
        ? [fromEnv, 'CREDDY_TIMEOUT' as const]
        : [undefined, 'the default' as const];
  if (raw === undefined) return { seconds: DEFAULT_CALLER_TIMEOUT_S, source };
  const seconds = parseDuration(raw);
  if (seconds === undefined || seconds < 1 || seconds > MAX_CALLER_TIMEOUT_S)
    throw new CreddyError('ERR_USAGE', `${source} "${raw}" must be a duration from 1s to 1h, e.g. 10s, 2m or 90`);
  return { seconds, source };
}

/**
 * What a caller command says when its wait ran out: after how long, which setting decided it, and
 * how to wait longer — "timed out after 30s (the default; wait longer with --timeout DURATION or
 * CREDDY_TIMEOUT=DURATION)".
 */
export function timedOutAfter(timeout: CallerTimeout): string {
  const change =
    timeout.source === '--timeout' ? 'a longer --timeout waits longer' : 'wait longer with --timeout DURATION or CREDDY_TIMEOUT=DURATION';
  return `timed out after ${formatDuration(timeout.seconds)} (${timeout.source === 'the default' ? 'the default' : `set by ${timeout.source}`}; ${change})`;
}

/**
 * True when `signal` ended the request because its time ran out (`AbortSignal.timeout`), not for
 * another reason. The client's `timedOut` (client/http.ts) says the same; it is not imported here
 * because `get --cache` answers from the cache without loading the client (test/cli/startup.test.ts).
 */
export function ranOut(signal: AbortSignal | null | undefined): boolean {
  return signal?.aborted === true && (signal.reason as Error | undefined)?.name === 'TimeoutError';
}

/**
 * `doFetch`, with a request the client gave up on at its timeout said as what it is: which
 * request, after how long, and how to wait longer. (The transport would say only "The operation
 * was aborted".) Both halves of the wait are covered: the answer's headers (the client then says
 * "no answer:" before it) and its body, read with `text()`, `json()` or `arrayBuffer()` as
 * nodeFetch's answers are (the client then says the answer's status and that its body stopped
 * coming).
 */
export function sayingTimeouts(doFetch: typeof fetch, timeout: CallerTimeout): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    // The cause is the signal's TimeoutError, not what the transport made of the abort (a body
    // cut short is "aborted", ECONNRESET, which the client would quote as if the broker reset it).
    const said = (err: unknown): unknown =>
      ranOut(init?.signal)
        ? new Error(`${init?.method ?? 'GET'} ${url.pathname} ${timedOutAfter(timeout)}`, { cause: init?.signal?.reason })
        : err;
    let response: Response;
    try {
      response = await doFetch(input, init);
    } catch (err) {
      throw said(err);
    }
    const read =
      <T>(body: () => Promise<T>) =>
      async (): Promise<T> => {
        try {
          return await body();
        } catch (err) {
          throw said(err);
        }
      };
    const { text, json, arrayBuffer } = response;
    return Object.assign(response, {
      text: read(text.bind(response)),
      json: read(json.bind(response)),
      arrayBuffer: read(arrayBuffer.bind(response)),
    });
  };
}
