/** Something that can be settled before it expires. */
export interface Expirable {
  /** Set by the owner once the item no longer needs to expire. */
  settled: boolean;
}

/** Items that each expire a fixed time after they were added, watched by one timer. */
export interface ExpiryQueue<T extends Expirable> {
  add(item: T): void;
}

/** Entries past this many settled ones at the front are dropped from the array in one go. */
const COMPACT_AFTER = 1024;

/**
 * One timer for every pending audit write instead of a setTimeout/clearTimeout pair per request.
 * All items share one time-to-live, so they expire in the order they were added: the timer only
 * ever waits for the oldest unsettled item. Settled items are dropped as the front moves past
 * them, so a settled item is not kept alive for the whole time-to-live.
 */
export function createExpiryQueue<T extends Expirable>(ttlMs: number, expire: (item: T) => void): ExpiryQueue<T> {
  let items: Array<{ readonly item: T; readonly deadline: number }> = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The deadline the armed timer waits for. */
  let armedFor = Number.POSITIVE_INFINITY;

  const dropSettled = (): void => {
    while (head < items.length && items[head]!.item.settled) head++;
    if (head === items.length) {
      items = [];
      head = 0;
    } else if (head >= COMPACT_AFTER) {
      items = items.slice(head);
      head = 0;
    }
  };

  const arm = (): void => {
    if (head === items.length) return;
    const { deadline } = items[head]!;
    // Re-armed only when the oldest unsettled item is due before the timer fires: after the item
    // the timer was set for settled early, the next one is due later, and the sweep re-arms.
    if (timer) {
      if (armedFor <= deadline) return;
      clearTimeout(timer);
    }
    armedFor = deadline;
    timer = setTimeout(sweep, Math.max(0, deadline - performance.now()));
    timer.unref();
  };

  function sweep(): void {
    timer = undefined;
    armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    for (dropSettled(); head < items.length && items[head]!.deadline <= now; dropSettled()) {
      const { item } = items[head++]!;
      item.settled = true;
      expire(item);
    }
    arm();
  }

  return {
    add(item) {
      dropSettled();
      items.push({ item, deadline: performance.now() + ttlMs });
      arm();
    },
  };
}
