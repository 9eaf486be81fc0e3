import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AgentKeyRecord } from '../../../src/model/agent-key.js';
import type { AuditEntry, HolderStamp } from '../../../src/store/port.js';
import { agent, credential, event, failingSealer, type StoreUnderTest, seal, unique } from '../fixture.js';

/** A key record; the thumbprint is random here (the store does not compute it). */
const agentKey = (agentName: string): AgentKeyRecord => ({
  agent: agentName,
  jkt: randomBytes(32).toString('base64url'),
  x: randomBytes(32).toString('base64url'),
  addedAt: 1_700_000_000,
});

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

    it("an issuance's append reports its holder record when it is no longer the one it was judged by, and how", async () => {
      const { store } = sut();
      const a = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a } }], seal);
      const stamp: HolderStamp = { id: a.id, tokenHash: a.tokenHash, grants: a.grants };
      const issue = (holder: HolderStamp): AuditEntry => ({
        event: event({ type: 'credential.issued' }),
        credential: credential({ agent: a.name }),
        holder,
      });
      const update = (fields: Partial<{ tokenHash: string; grants: typeof a.grants; expiresAt: number | null }>): AuditEntry => ({
        event: event({ type: 'agent.updated' }),
        change: { kind: 'agent.update', id: a.id, tokenHash: a.tokenHash, grants: a.grants, expiresAt: a.expiresAt, ...fields },
      });
      const changed = async (entries: AuditEntry[]) => (await store.audit.append(entries, seal)).holderChanged;

      expect(await changed([issue(stamp), issue(stamp)])).toBeUndefined();
      // A new expiry is no difference: the request authenticated while the agent was active.
      await store.audit.append([update({ expiresAt: 1_900_000_000 })], seal);
      expect(await changed([issue(stamp)])).toBeUndefined();
      // Grants: reported with the grants now, for the caller's policy to judge.
      const wider = [...a.grants, { backend: 'demo', scope: 'write' }];
      await store.audit.append([update({ grants: wider })], seal);
      expect(await changed([issue({ ...stamp, grants: wider }), issue(stamp)])).toEqual([
        { entry: 1, revoked: false, tokenRotated: false, keyRemoved: false, grants: wider },
      ]);
      // Another token digest: a rotation.
      const rotated = randomBytes(32).toString('hex');
      await store.audit.append([update({ tokenHash: rotated, grants: wider })], seal);
      expect(await changed([issue({ ...stamp, grants: wider })])).toEqual([
        { entry: 0, revoked: false, tokenRotated: true, keyRemoved: false, grants: wider },
      ]);
      expect(await changed([issue({ ...stamp, tokenHash: rotated, grants: wider })])).toBeUndefined();
      // Revoked, and a record that does not exist.
      await store.audit.append([{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: a.name, at: 9 } }], seal);
      expect(await changed([issue({ ...stamp, tokenHash: rotated, grants: wider })])).toEqual([
        { entry: 0, revoked: true, tokenRotated: false, keyRemoved: false, grants: wider },
      ]);
      expect(await changed([issue({ ...stamp, id: unique('agt') })])).toEqual([
        { entry: 0, revoked: true, tokenRotated: false, keyRemoved: false, grants: [] },
      ]);
    });
    it("a key-pair issuance's append reports the key it authenticated with once it is no longer the agent's (removed)", async () => {
      const { store, second } = sut();
      const a = agent();
      const [k1, k2] = [agentKey(a.name), agentKey(a.name)];
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a, keys: [k1!, k2!] } }], seal);
      const stamp: HolderStamp = { id: a.id, tokenHash: a.tokenHash, grants: a.grants };
      const issue = (holder: HolderStamp): AuditEntry => ({
        event: event({ type: 'credential.issued' }),
        credential: credential({ agent: a.name }),
        holder,
      });
      const changed = async (entries: AuditEntry[]) => (await store.audit.append(entries, seal)).holderChanged;
      const removed = { entry: 0, revoked: false, tokenRotated: false, keyRemoved: true, grants: a.grants };

      expect(await changed([issue({ ...stamp, jkt: k1!.jkt }), issue({ ...stamp, jkt: k2!.jkt }), issue(stamp)])).toBeUndefined();
      // Removed through another store instance (another replica, the CLI): seen at the next commit.
      const other = second();
      try {
        await other.audit.append(
          [{ event: event({ type: 'agent.key_removed' }), change: { kind: 'agent.key.remove', agent: a.name, jkt: k1!.jkt } }],
          seal,
        );
      } finally {
        await other.close();
      }
      expect(await changed([issue(stamp), issue({ ...stamp, jkt: k2!.jkt }), issue({ ...stamp, jkt: k1!.jkt })])).toEqual([
        { ...removed, entry: 2 },
      ]);
      // A key registered, but to another agent, is not this agent's.
      const b = agent();
      const theirs = agentKey(b.name);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: b, keys: [theirs] } }], seal);
      expect(await changed([issue({ ...stamp, jkt: theirs.jkt })])).toEqual([removed]);
      // Reported with whatever else changed, for the caller to judge in its order.
      await store.audit.append([{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: a.name, at: 9 } }], seal);
      expect(await changed([issue({ ...stamp, jkt: k1!.jkt })])).toEqual([{ ...removed, revoked: true }]);
    });

    it('a key removal racing an issuance through that key from another store instance: reported, or ordered after its row', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        for (let i = 0; i < 10; i++) {
          const a = agent();
          const [k1, k2] = [agentKey(a.name), agentKey(a.name)];
          await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a, keys: [k1!, k2!] } }], seal);
          const [issued, removal] = await Promise.all([
            store.audit.append(
              [
                {
                  event: event({ type: 'credential.issued' }),
                  credential: credential({ agent: a.name }),
                  holder: { id: a.id, tokenHash: a.tokenHash, grants: a.grants, jkt: k1!.jkt },
                },
              ],
              seal,
            ),
            other.audit.append(
              [{ event: event({ type: 'agent.key_removed' }), change: { kind: 'agent.key.remove', agent: a.name, jkt: k1!.jkt } }],
              seal,
            ),
          ]);
          // Either the removal committed first and the issuance is told, or the issuance's row
          // precedes the removal's (and so the removal's scan of the agent's credentials sees it).
          if (issued.holderChanged) {
            expect(issued.holderChanged).toEqual([{ entry: 0, revoked: false, tokenRotated: false, keyRemoved: true, grants: a.grants }]);
            expect(issued[0]!.seq).toBeGreaterThan(removal[0]!.seq);
          } else {
            expect(issued[0]!.seq).toBeLessThan(removal[0]!.seq);
          }
        }
      } finally {
        await other.close();
      }
    });
  });
}
