import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AgentKeyRecord } from '../../../src/model/agent-key.js';
import { agent, event, type StoreUnderTest, seal, unique } from '../fixture.js';

/** A key record; the thumbprint is random here (the store does not compute it). */
const key = (agentName: string, addedAt = 1_700_000_000): AgentKeyRecord => ({
  agent: agentName,
  jkt: randomBytes(32).toString('base64url'),
  x: randomBytes(32).toString('base64url'),
  addedAt,
});

/** Key-pair agents: public keys written with their audit rows, read per authentication; require_dpop. */
export function agentKeyContract(sut: () => StoreUnderTest): void {
  describe('agent keys', () => {
    it('are created with their agent and read by agent (oldest first) and in a list', async () => {
      const { store, second } = sut();
      const a = { ...agent(), requireDpop: true };
      const keys = [key(a.name, 20), key(a.name, 10)];
      await store.audit.append([{ event: event({ agent: a.name }), change: { kind: 'agent.create', agent: a, keys } }], seal);
      expect(await store.agents.byName(a.name)).toEqual(a);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([keys[1], keys[0]]);
      const other = second();
      try {
        expect(await other.agentKeys.byAgent(a.name)).toHaveLength(2);
      } finally {
        await other.close();
      }
      const all = await store.agentKeys.list();
      expect(all).toEqual(expect.arrayContaining(keys));
      const order = all.map((k) => `${k.agent}\u0000${k.jkt}`);
      expect(order).toEqual([...order].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      expect(await store.agentKeys.byAgent(unique('nobody'))).toEqual([]);
      // An agent created without the setting reads as not requiring DPoP (the field is absent).
      const plain = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: plain } }], seal);
      expect(await store.agents.byName(plain.name)).toEqual(plain);
    });

    it('are added and removed with their rows; a taken thumbprint or a missing key is skipped, not an error', async () => {
      const { store } = sut();
      const a = agent();
      const first = key(a.name, 1);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a, keys: [first] } }], seal);
      const next = key(a.name, 2);
      const rows = await store.audit.append(
        [
          { event: event({ type: 'agent.key_added' }), change: { kind: 'agent.key.add', key: next } },
          // Another agent claiming the same thumbprint: skipped, the key stays the first owner's.
          { event: event({ type: 'agent.key_added' }), change: { kind: 'agent.key.add', key: { ...next, agent: unique('thief') } } },
          { event: event({ type: 'agent.key_removed' }), change: { kind: 'agent.key.remove', agent: a.name, jkt: 'not-there' } },
          // A key is removed only under its own agent's name.
          { event: event({ type: 'agent.key_removed' }), change: { kind: 'agent.key.remove', agent: unique('other'), jkt: first.jkt } },
        ],
        seal,
      );
      expect(rows).toHaveLength(4);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([first, next]);
      await store.audit.append(
        [{ event: event({ type: 'agent.key_removed' }), change: { kind: 'agent.key.remove', agent: a.name, jkt: first.jkt } }],
        seal,
      );
      expect(await store.agentKeys.byAgent(a.name)).toEqual([next]);
    });

    it('a skipped create leaves the existing keys; a create that inserts the agent drops keys a former agent of its name left', async () => {
      const { store, exec } = sut();
      const a = agent();
      const original = key(a.name);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a, keys: [original] } }], seal);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: agent(a.name), keys: [key(a.name)] } }], seal);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([original]);
      // The agent row gone (as when a name is reused), its keys left behind: the next agent of
      // that name starts with its own keys only.
      await exec(`DELETE FROM agents WHERE name = '${a.name}'`);
      const successor = agent(a.name);
      const fresh = key(a.name);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: successor, keys: [fresh] } }], seal);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([fresh]);
      const bearer = agent(a.name);
      await exec(`DELETE FROM agents WHERE name = '${a.name}'`);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: bearer } }], seal);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([]);
    });

    it('agent.update keeps keys and require_dpop; a revoked name created again starts with its new keys only', async () => {
      const { store } = sut();
      const a = { ...agent(), requireDpop: true };
      const original = key(a.name);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a, keys: [original] } }], seal);
      const change = {
        kind: 'agent.update',
        id: a.id,
        tokenHash: unique('hash'),
        grants: [{ backend: 'x', scope: 'y' }],
        expiresAt: null,
      } as const;
      await store.audit.append([{ event: event({ type: 'agent.updated' }), change }], seal);
      expect(await store.agents.byName(a.name)).toEqual({ ...a, tokenHash: change.tokenHash, grants: change.grants, expiresAt: null });
      expect(await store.agentKeys.byAgent(a.name)).toEqual([original]);

      await store.audit.append([{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: a.name, at: 5 } }], seal);
      const successor = agent(a.name);
      const fresh = key(a.name);
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: successor, keys: [fresh] } }], seal);
      expect(await store.agents.byName(a.name)).toEqual(successor);
      expect(await store.agentKeys.byAgent(a.name)).toEqual([fresh]);
    });
  });
}
