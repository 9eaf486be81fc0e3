import type Database from 'better-sqlite3';
import type { AgentRecord } from '../../model/agent.js';
import type { Store } from '../port.js';

interface AgentRow {
  id: string;
  name: string;
  token_hash: string;
  grants: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const toRecord = (row: AgentRow): AgentRecord => ({
  id: row.id,
  name: row.name,
  tokenHash: row.token_hash,
  grants: JSON.parse(row.grants) as AgentRecord['grants'],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
});

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
      return row && toRecord(row);
    },
    async byName(name) {
      const row = byName.get(name);
      return row && toRecord(row);
    },
    async list() {
      return all.all().map(toRecord);
    },
  };
}
