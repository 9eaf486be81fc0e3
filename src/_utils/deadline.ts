/**
 * Settles as `work` does, or rejects with `reason()` if `work` is still pending after `ms`. The
 * work itself goes on: what its late outcome means is the caller's to decide (it still holds
 * `work`). One timer, cleared as soon as either side wins, and unref'd: a deadline never keeps
 * the process alive by itself.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, reason: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(reason()), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
