import { describe, expect, it } from 'vitest';
import { event, type StoreUnderTest, seal, unique } from '../fixture.js';

/** `store.replay` (single-use federation tokens) and the audit filters by rule and CI run. */
export function replayContract(sut: () => StoreUnderTest): void {
  describe('replay and federation filters', () => {
    it('a key is claimed once, across store instances racing for it', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        const expiresAt = Math.floor(Date.now() / 1000) + 600;
        for (let round = 0; round < 5; round++) {
          const key = unique('jti');
          const results = await Promise.all([store, other, store, other].map((s) => s.replay.claim(key, expiresAt)));
          expect(results.filter(Boolean)).toHaveLength(1);
          expect(await store.replay.claim(key, expiresAt)).toBe(false);
        }
      } finally {
        await other.close();
      }
    });

    it('keys an hour past their expiry are purged as new ones are claimed, live ones never', async () => {
      const { store } = sut();
      const now = Math.floor(Date.now() / 1000);
      const [old, recent] = [unique('old'), unique('recent')];
      expect(await store.replay.claim(old, now - 3700)).toBe(true);
      expect(await store.replay.claim(recent, now - 60)).toBe(true);
      // Each claim purges a bounded batch of the oldest; a few claims reach past other tests' keys.
      for (let i = 0; i < 8; i++) await store.replay.claim(unique('trigger'), now + 300);
      // Purged: the id can be claimed again (only a verifier's exp check stands in its way then).
      expect(await store.replay.claim(old, now - 3700)).toBe(true);
      expect(await store.replay.claim(recent, now - 60)).toBe(false);
    });

    it('audit rows are found by federation rule and by run id', async () => {
      const { store } = sut();
      const rule = unique('rule');
      const runId = unique('run');
      await store.audit.append(
        [
          { event: event({ type: 'credential.issued', details: { federation: { rule, run_id: runId } } }) },
          { event: event({ type: 'credential.issued', details: { federation: { rule, run_id: unique('run') } } }) },
          { event: event({ type: 'credential.issued', details: { federation: { rule: unique('rule'), run_id: runId } } }) },
          { event: event({ type: 'credential.issued', details: { rule } }) },
        ],
        seal,
      );
      expect(await store.audit.query({ rule, limit: 10 })).toHaveLength(2);
      expect(await store.audit.query({ runId, limit: 10 })).toHaveLength(2);
      expect(await store.audit.query({ rule, runId, limit: 10 })).toHaveLength(1);
    });
  });
}
