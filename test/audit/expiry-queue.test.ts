import { describe, expect, it } from 'vitest';
import { createExpiryQueue } from '../../src/audit/expiry-queue.js';

describe('expiry queue (one timer for every pending audit write)', () => {
  it('expires the unsettled items once their time is up, oldest first, and never a settled one', async () => {
    const expired: string[] = [];
    const queue = createExpiryQueue<{ name: string; settled: boolean }>(20, (item) => expired.push(item.name));
    const items = ['a', 'b', 'c', 'd'].map((name) => ({ name, settled: false }));
    for (const item of items) queue.add(item);
    items[0]!.settled = true;
    items[2]!.settled = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(expired).toEqual(['b', 'd']);
    expect(items.every((item) => item.settled)).toBe(true);

    // Still works after the queue ran empty, and across many settled items.
    const late = { name: 'late', settled: false };
    for (let i = 0; i < 3000; i++) queue.add({ name: `done-${i}`, settled: true });
    queue.add(late);
    await new Promise((r) => setTimeout(r, 60));
    expect(expired).toEqual(['b', 'd', 'late']);
  });
});
