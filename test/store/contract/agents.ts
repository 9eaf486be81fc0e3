import { describe, expect, it } from 'vitest';
import { agent, event, failingSealer, type StoreUnderTest, seal } from '../fixture.js';

/** Agent records: one per `agent create`, names reusable after revocation, updates by id. */
export function agentContract(sut: () => StoreUnderTest): void {
  describe('agents', () => {
    it('a revoked name can be created again; byName finds the live record, list keeps both', async () => {
      const { store } = sut();
      const first = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: first } }], seal);
      // A second live record of the same name is skipped (the unique live name).
      const twin = { ...agent(first.name), createdAt: first.createdAt + 1 };
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: twin } }], seal);
      expect((await store.agents.byName(first.name))?.id).toBe(first.id);
      await store.audit.append(
        [{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: first.name, at: 5 } }],
        seal,
      );
      const again = { ...agent(first.name), createdAt: first.createdAt + 2 };
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: again } }], seal);
      expect((await store.agents.byName(first.name))?.id).toBe(again.id);
      const records = (await store.agents.list()).filter((a) => a.name === first.name);
      expect(records.map((a) => [a.id, a.revokedAt !== null])).toEqual([
        [first.id, true],
        [again.id, false],
      ]);
    });

    it('an update changes token, grants and expiry of a live record only', async () => {
      const { store } = sut();
      const live = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: live } }], seal);
      const grants = [{ backend: 'demo', scope: 'write' }];
      await store.audit.append(
        [
          {
            event: event({ type: 'agent.updated' }),
            change: { kind: 'agent.update', id: live.id, tokenHash: 'f'.repeat(64), grants, expiresAt: 99 },
          },
        ],
        seal,
      );
      expect(await store.agents.byTokenHash('f'.repeat(64))).toMatchObject({ id: live.id, grants, expiresAt: 99 });
      await store.audit.append(
        [{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: live.name, at: 7 } }],
        seal,
      );
      await store.audit.append(
        [
          {
            event: event({ type: 'agent.updated' }),
            change: { kind: 'agent.update', id: live.id, tokenHash: 'e'.repeat(64), grants, expiresAt: 1 },
          },
        ],
        seal,
      );
      expect(await store.agents.byTokenHash('e'.repeat(64))).toBeUndefined();
    });

    it('a revocation commits with its agent.revoked row; of store instances racing, one wins and only its row is written', async () => {
      const { store, second } = sut();
      const a = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a } }], seal);
      const other = second();
      try {
        const audit = { events: [event({ type: 'agent.revoked', agent: a.name, details: { agent_id: a.id } })], seal };
        const won = await Promise.all([store, other, store, other].map((s, i) => s.agents.revoke(a.id, 50 + i, audit)));
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await store.audit.query({ agent: a.name, type: 'agent.revoked', limit: 10 })).toHaveLength(1);
        expect((await store.agents.byName(a.name))?.revokedAt).toBe(50 + won.indexOf(true));
        expect(await store.agents.revoke(a.id, 99, audit)).toBe(false);
        expect(await store.agents.revoke('no-such-id', 99, audit)).toBe(false);
        expect(await store.audit.query({ agent: a.name, type: 'agent.revoked', limit: 10 })).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    it('an agent revocation whose audit row cannot be written changes nothing', async () => {
      const { store } = sut();
      const a = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a } }], seal);
      const head = await store.audit.head();
      const err = await store.agents
        .revoke(a.id, 60, { events: [event({ type: 'agent.revoked', agent: a.name })], seal: failingSealer(0) })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      expect((await store.agents.byName(a.name))?.revokedAt).toBeNull();
      expect(await store.audit.head()).toEqual(head);
    });
  });
}
