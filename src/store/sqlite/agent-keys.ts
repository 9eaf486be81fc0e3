import type Database from 'better-sqlite3';
import type { AgentKeyRecord } from '../../model/agent-key.js';
import type { AgentKeyChange, Store } from '../port.js';

interface AgentKeyRow {
  jkt: string;
  agent: string;
  x: string;
  added_at: number;
}

const toRecord = (row: AgentKeyRow): AgentKeyRecord => ({ agent: row.agent, jkt: row.jkt, x: row.x, addedAt: row.added_at });

/** Reads of key-pair agents' public keys; writes happen with their audit rows (agentKeyWrites). */
export function sqliteAgentKeys(db: Database.Database): Store['agentKeys'] {
  const byAgent = db.prepare<[string], AgentKeyRow>('SELECT * FROM agent_keys WHERE agent = ? ORDER BY added_at, jkt');
  const all = db.prepare<[], AgentKeyRow>('SELECT * FROM agent_keys ORDER BY agent, jkt');
  return {
    async byAgent(agent) {
      return byAgent.all(agent).map(toRecord);
    },
    async list() {
      return all.all().map(toRecord);
    },
  };
}

/**
 * The key changes of the audit append transaction, guarded rather than throwing (a failing entry
 * would abort its whole group-commit batch): a thumbprint already registered is skipped, a key
 * not there is not removed.
 */
export function agentKeyWrites(db: Database.Database): {
  /** After an agent row was inserted: drops keys a former agent of that name left, adds the new ones. */
  replace(agent: string, keys: readonly AgentKeyRecord[]): void;
  apply(change: AgentKeyChange): void;
} {
  const clear = db.prepare<[string]>('DELETE FROM agent_keys WHERE agent = ?');
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO agent_keys (jkt, agent, x, added_at) VALUES (?, ?, ?, ?) ON CONFLICT (jkt) DO NOTHING',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM agent_keys WHERE agent = ? AND jkt = ?');
  const add = (key: AgentKeyRecord) => insert.run(key.jkt, key.agent, key.x, key.addedAt);
  return {
    replace(agent, keys) {
      clear.run(agent);
      for (const key of keys) add(key);
    },
    apply(change) {
      if (change.kind === 'agent.key.add') add(change.key);
      else remove.run(change.agent, change.jkt);
    },
  };
}
