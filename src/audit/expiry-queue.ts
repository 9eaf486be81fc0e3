/** Something that can be settled before it expires. */
export interface Expirable {
  /** Set by the owner once the item no longer needs to expire. */
  settled: boolean;
}

/** Items that each expire a fixed time after they were added, watched by one timer. */
export interface ExpiryQueue<T extends Expirable> {
  add(item: T): void;
}

/** The array is shortened once this many slots at its front are spent. */
const COMPACT_AFTER = 256;

/** What a spent slot holds: the item itself must not stay reachable (it holds a whole audit entry). */
const SPENT = { item: { settled: true }, deadline: 0 } as const;

/**
 * One timer for every pending audit write instead of a setTimeout/clearTimeout pair per request.
 * All items share one time-to-live, so they expire in the order they were added: the timer only
 * ever waits for the oldest unsettled item. Settled items are let go as the front moves past
 * them (at the next add), so an answered write is not kept alive for the time-to-live: kept even
 * for a few hundred ms, its objects outlived two scavenges and V8 promoted them to the old space.
 */
export function createExpiryQueue<T extends Expirable>(ttlMs: number, expire: (item: T) => void): ExpiryQueue<T> {
  let items: Array<{ readonly item: T | Expirable; readonly deadline: number }> = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The deadline the armed timer waits for. */
  let armedFor = Number.POSITIVE_INFINITY;

  const dropSettled = (): void => {
    while (head < items.length && items[head]!.item.settled) items[head++] = SPENT;
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
      const item = items[head]!.item as T;
      items[head++] = SPENT;
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
