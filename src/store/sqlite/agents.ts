import type Database from 'better-sqlite3';
import type { Store } from '../port.js';
import { type AgentRow, toAgent } from '../rows.js';

export function sqliteAgents(db: Database.Database): Store['agents'] {
  const byHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  // The unrevoked record first, else the newest: a name may have been revoked and created again.
  const byName = db.prepare<[string], AgentRow>(
    'SELECT * FROM agents WHERE name = ? ORDER BY revoked_at IS NOT NULL, created_at DESC, rowid DESC LIMIT 1',
  );
  const all = db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY name, created_at, rowid');
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
