import type { AgentKeyRecord } from '../../model/agent-key.js';
import type { AgentKeyChange, Store } from '../port.js';
import type { Db, Tx } from './db.js';

interface AgentKeyRow {
  jkt: string;
  agent: string;
  x: string;
  added_at: number;
}

const toRecord = (row: AgentKeyRow): AgentKeyRecord => ({ agent: row.agent, jkt: row.jkt, x: row.x, addedAt: row.added_at });

/** Reads of key-pair agents' public keys; writes happen with their audit rows (audit-append.ts). */
export function postgresAgentKeys(db: Db): Store['agentKeys'] {
  return {
    async byAgent(agent) {
      // Read on every key-pair authentication, on every replica: a removed key stops working at once.
      const { rows } = await db.query<AgentKeyRow>(
        { name: 'agent-keys-by-agent', text: 'SELECT * FROM agent_keys WHERE agent = $1 ORDER BY added_at, jkt COLLATE "C"' },
        [agent],
      );
      return rows.map(toRecord);
    },
    async list() {
      const { rows } = await db.query<AgentKeyRow>('SELECT * FROM agent_keys ORDER BY agent COLLATE "C", jkt COLLATE "C"');
      return rows.map(toRecord);
    },
  };
}

const insertKey = (tx: Tx, key: AgentKeyRecord) =>
  tx.query('INSERT INTO agent_keys (jkt, agent, x, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jkt) DO NOTHING', [
    key.jkt,
    key.agent,
    key.x,
    key.addedAt,
  ]);

/** After an agent row was inserted: drops keys a former agent of that name left, adds the new ones. */
export async function replaceAgentKeys(tx: Tx, agent: string, keys: readonly AgentKeyRecord[]): Promise<void> {
  await tx.query('DELETE FROM agent_keys WHERE agent = $1', [agent]);
  for (const key of keys) await insertKey(tx, key);
}

/** One key change, guarded rather than throwing (a failing entry would abort its whole batch). */
export async function applyAgentKeyChange(tx: Tx, change: AgentKeyChange): Promise<void> {
  if (change.kind === 'agent.key.add') await insertKey(tx, change.key);
  else await tx.query('DELETE FROM agent_keys WHERE agent = $1 AND jkt = $2', [change.agent, change.jkt]);
}
