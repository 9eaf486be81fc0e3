import type Database from 'better-sqlite3';
import type { Store } from '../port.js';
import { type AgentRow, toAgent } from '../rows.js';

export function sqliteAgents(db: Database.Database): Store['agents'] {
  const byHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  const byName = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE name = ?');
  const all = db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY name');
  return {
    async byTokenHash(tokenHash) {
      const row = byHash.get(tokenHash);
      return row && toAgent(row);
    },
    async byName(name) {
      const row = byName.get(name);
      return row && toAgent(row);
    },
    async list() {
      return all.all().map(toAgent);
    },
  };
}
