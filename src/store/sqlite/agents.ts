import type Database from 'better-sqlite3';
import type { AgentRecord } from '../../model/agent.js';
import type { Store } from '../port.js';

interface AgentRow {
  name: string;
  token_hash: string;
  grants: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  require_dpop: number;
}

const toRecord = (row: AgentRow): AgentRecord => ({
  name: row.name,
  tokenHash: row.token_hash,
  grants: JSON.parse(row.grants) as AgentRecord['grants'],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  ...(row.require_dpop ? { requireDpop: true } : {}),
});

export function sqliteAgents(db: Database.Database): Store['agents'] {
  const byHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  const byName = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE name = ?');
  const all = db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY name');
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
