/**
 * A signal that aborts when `parent` does or after `ms`, whichever comes first; call `clear()`
 * once the work is done. Built from a plain AbortController and a timer the caller holds on
 * purpose: on Node 20 a signal from `AbortSignal.any([…, AbortSignal.timeout(ms)])` may be
 * garbage-collected before its timer fires, so under memory pressure the timeout silently never
 * happens (seen as a flaky "slow answer accepted" in the GitHub fault tests).
 */
export function timeoutSignal(parent: AbortSignal, ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new DOMException('attempt timed out', 'TimeoutError')), ms);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
