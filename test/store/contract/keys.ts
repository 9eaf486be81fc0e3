import { describe, expect, it } from 'vitest';
import { isCreddyError } from '../../../src/errors.js';
import type { KeyOp } from '../../../src/store/port.js';
import { allRows, credential, event, failingSealer, key, type StoreUnderTest, seal } from '../fixture.js';

const keyEvents = (n: number, details: Record<string, unknown> = {}) =>
  Array.from({ length: n }, () => event({ type: 'key.created', actor: 'contract', details }));

/** Signing keys: guarded transitions that commit with their audit rows, or not at all. */
export function keyContract(sut: () => StoreUnderTest): void {
  describe('signing keys', () => {
    it('bootstrap: inserts current + next with their audit rows in one transaction', async () => {
      const { store } = sut();
      const before = (await store.audit.head())?.seq ?? 0;
      const current = key('current');
      const next = key('next');
      const ok = await store.keys.apply(
        [
          { op: 'insert', key: current },
          { op: 'insert', key: next },
        ],
        { events: keyEvents(2), seal },
      );
      expect(ok).toBe(true);
      const listed = await store.keys.list();
      expect(listed.find((k) => k.kid === current.kid)).toEqual({ ...current, sealedPrivate: Buffer.from(current.sealedPrivate) });
      expect(listed.find((k) => k.kid === next.kid)?.state).toBe('next');
      expect((await store.audit.head())?.seq).toBe(before + 2);
    });

    it('at most one current and one next: a second insert loses (false), nothing changes, no rows appended', async () => {
      const { store } = sut();
      const head = await store.audit.head();
      const keys = await store.keys.list();
      expect(await store.keys.apply([{ op: 'insert', key: key('current') }], { events: keyEvents(1), seal })).toBe(false);
      expect(await store.keys.apply([{ op: 'insert', key: key('next') }], { events: keyEvents(1), seal })).toBe(false);
      expect(await store.keys.list()).toEqual(keys);
      expect(await store.audit.head()).toEqual(head);
    });

    it('a guard that no longer holds fails the whole transition (false), even after ops that succeeded', async () => {
      const { store } = sut();
      const head = await store.audit.head();
      const before = await store.keys.list();
      const current = before.find((k) => k.state === 'current')!;
      const ops: KeyOp[] = [
        { op: 'update', kid: current.kid, expect: 'current', set: { state: 'retired', retiredAt: 5 } },
        { op: 'update', kid: current.kid, expect: 'next', set: { state: 'current' } }, // wrong state
      ];
      expect(await store.keys.apply(ops, { events: keyEvents(2), seal })).toBe(false);
      expect(await store.keys.list()).toEqual(before);
      expect(await store.audit.head()).toEqual(head);
    });

    it('an audit row that cannot be written undoes the transition: ERR_AUDIT_UNAVAILABLE, nothing changed', async () => {
      const { store } = sut();
      const head = await store.audit.head();
      const before = await store.keys.list();
      const current = before.find((k) => k.state === 'current')!;
      const err = await store.keys
        .apply([{ op: 'update', kid: current.kid, expect: 'current', set: { state: 'revoked', revokedAt: 9 } }], {
          events: keyEvents(2),
          seal: failingSealer(1),
        })
        .catch((e: unknown) => e);
      expect(isCreddyError(err, 'ERR_AUDIT_UNAVAILABLE')).toBe(true);
      expect(await store.keys.list()).toEqual(before);
      expect(await store.audit.head()).toEqual(head);
    });

    it('racing rotations from two store instances: exactly one wins, the chain records it once', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        const { current, next } = await activePair(store);
        const rotate = (s: StoreUnderTest['store']) => {
          const successor = key('next');
          return s.keys.apply(
            [
              { op: 'update', kid: current.kid, expect: 'current', set: { state: 'retired', retiredAt: 7 } },
              { op: 'update', kid: next.kid, expect: 'next', set: { state: 'current', activatedAt: 7 } },
              { op: 'insert', key: successor },
            ],
            { events: keyEvents(3, { retired: current.kid }), seal },
          );
        };
        const results = await Promise.all([rotate(store), rotate(other), rotate(store), rotate(other)]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const after = await store.keys.list();
        expect(after.filter((k) => k.state === 'current').map((k) => k.kid)).toEqual([next.kid]);
        expect(after.filter((k) => k.state === 'next')).toHaveLength(1);
        expect(after.find((k) => k.kid === current.kid)?.state).toBe('retired');
        const recorded = (await allRows(store)).filter((r) => r.details?.['retired'] === current.kid);
        expect(recorded).toHaveLength(3);
      } finally {
        await other.close();
      }
    });

    it('watch: PostgreSQL tells every instance of a committed transition (SQLite has none: callers poll)', async () => {
      const sutNow = sut();
      if (sutNow.engine === 'sqlite') {
        expect(sutNow.store.keys.watch).toBeUndefined();
        return;
      }
      const other = sutNow.second();
      let heard = 0;
      const unwatch = other.keys.watch!(() => heard++);
      try {
        // Subscribing reports once (anything may have changed before it listened), then each commit.
        await waitFor(() => heard >= 1);
        const start = heard;
        const { next } = await activePair(sutNow.store);
        const revoke = [{ op: 'update', kid: next.kid, expect: 'next', set: { state: 'revoked', revokedAt: 8 } }] as const;
        expect(await sutNow.store.keys.apply(revoke, { events: keyEvents(1), seal })).toBe(true);
        await waitFor(() => heard > start);
        // A transition that loses its race notifies nobody.
        const afterWin = heard;
        expect(await sutNow.store.keys.apply(revoke, { events: keyEvents(1), seal })).toBe(false);
        expect(await sutNow.store.keys.apply([{ op: 'insert', key: key('next') }], { events: keyEvents(1), seal })).toBe(true);
        await waitFor(() => heard > afterWin);
        expect(heard).toBe(afterWin + 1);
      } finally {
        await unwatch();
        await other.close();
      }
    });

    it('usage: tokens signed and the latest exp per kid', async () => {
      const { store } = sut();
      const [a, b] = ['usage-a', 'usage-b'];
      await store.audit.append(
        [credential({ kid: a, expiresAt: 50 }), credential({ kid: a, expiresAt: 70 }), credential({ kid: b, expiresAt: 60 })].map((c) => ({
          event: event(),
          credential: { ...c, revocationHandle: null },
        })),
        seal,
      );
      const usage = await store.keys.usage([a, b, 'usage-none']);
      expect(usage.get(a)).toEqual({ count: 2, lastExp: 70 });
      expect(usage.get(b)).toEqual({ count: 1, lastExp: 60 });
      expect(usage.get('usage-none')).toEqual({ count: 0, lastExp: 0 });
    });
  });
}

async function waitFor(condition: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function activePair(store: StoreUnderTest['store']) {
  const keys = await store.keys.list();
  return { current: keys.find((k) => k.state === 'current')!, next: keys.find((k) => k.state === 'next')! };
}
