import { CreddyError } from '../errors.js';

/** After a failed request, lookups that need the broker fail at once for this long before it is asked again. */
export const RETRY_AFTER_FAILURE_MS = 5_000;

/**
 * The retry delay a verifier keeps per broker endpoint (the JWKS, the deny-list): after a failed
 * request the broker is not asked again for {@link RETRY_AFTER_FAILURE_MS}, and whatever needs it
 * meanwhile fails at once with `ERR_ISSUER_UNAVAILABLE` — instead of each caller waiting out its
 * own timeout against a broker that hangs, or each sending a request to one that is struggling.
 */
export interface FailureLatch {
  /** While the last failure is under 5 s old, the error to answer at once; otherwise undefined: ask the broker. */
  blocked(): CreddyError | undefined;
  /** True from a failure until the next success, however old the failure (stale-if-error reads it). */
  failing(): boolean;
  /** Records a failed request; `blocked()` answers with it for the next 5 s. */
  failed(error: CreddyError): void;
  /** Records a successful request. */
  succeeded(): void;
}

/** A {@link FailureLatch} on `now` (ms since the epoch). */
export function createFailureLatch(now: () => number): FailureLatch {
  let failure: { at: number; error: CreddyError } | undefined;
  return {
    blocked() {
      if (!failure) return undefined;
      const since = now() - failure.at;
      // (A clock stepped back makes `since` negative: that must not stop every retry until it catches up.)
      if (since < 0 || since >= RETRY_AFTER_FAILURE_MS) return undefined;
      const wait = Math.ceil((RETRY_AFTER_FAILURE_MS - since) / 1000);
      return new CreddyError('ERR_ISSUER_UNAVAILABLE', `${failure.error.message} (not asked again for ${wait} s)`, {
        cause: failure.error,
      });
    },
    failing: () => failure !== undefined,
    failed(error) {
      failure = { at: now(), error };
    },
    succeeded() {
      failure = undefined;
    },
  };
}
