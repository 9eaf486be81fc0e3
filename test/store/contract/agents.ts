import { describe, expect, it } from 'vitest';
import { agent, event, type StoreUnderTest, seal } from '../fixture.js';

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
  });
}
