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
}

const toRecord = (row: AgentRow): AgentRecord => ({
  name: row.name,
  tokenHash: row.token_hash,
  grants: JSON.parse(row.grants) as AgentRecord['grants'],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
});

/** Agents cached at most; past it the oldest entry goes. Only tokens that authenticated are kept. */
const CACHE_MAX = 10_000;

export function sqliteAgents(db: Database.Database): Store['agents'] {
  const byHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  const byName = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE name = ?');
  const all = db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY name');
  const version = db.prepare<[], number>('SELECT version FROM agents_version WHERE id = 1').pluck();

  // Bearer lookups by token digest, valid while the agents version (agents-schema.ts) stays the
  // same: every request still costs one read, of a one-row table, instead of the agent row and
  // the JSON of its grants. A change to any agent, made by any process, empties the cache before
  // the next lookup. Records are frozen: every request of that agent shares one.
  const cache = new Map<string, AgentRecord>();
  let cachedVersion: number | undefined;

  return {
    async byTokenHash(tokenHash) {
      const current = version.get();
      // No counter (a damaged schema): no cache, every lookup reads the row.
      if (current === undefined) {
        const row = byHash.get(tokenHash);
        return row && toRecord(row);
      }
      if (current !== cachedVersion) {
        cache.clear();
        cachedVersion = current;
      }
      const hit = cache.get(tokenHash);
      if (hit) return hit;
      // Read after the version: a change committed in between is cached under the old version,
      // which the next lookup sees has moved.
      const row = byHash.get(tokenHash);
      if (!row) return undefined;
      const record = toRecord(row);
      for (const grant of record.grants) Object.freeze(grant);
      Object.freeze(record.grants);
      Object.freeze(record);
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(tokenHash, record);
      return record;
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
