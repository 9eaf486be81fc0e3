import type Database from 'better-sqlite3';
import type { AgentRecord } from '../../model/agent.js';
import type { Store } from '../port.js';
import { type AgentRow, toAgent } from '../rows.js';

/** Agents cached at most; past it the oldest entry goes. Only tokens that authenticated are kept. */
const CACHE_MAX = 10_000;

export function sqliteAgents(db: Database.Database): Omit<Store['agents'], 'revoke'> {
  const byHash = db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE token_hash = ?');
  // The unrevoked record first, else the newest: a name may have been revoked and created again.
  const byName = db.prepare<[string], AgentRow>(
    'SELECT * FROM agents WHERE name = ? ORDER BY revoked_at IS NOT NULL, created_at DESC, rowid DESC LIMIT 1',
  );
  const all = db.prepare<[], AgentRow>('SELECT * FROM agents ORDER BY name, created_at, rowid');
  const version = db.prepare<[], number>('SELECT version FROM agents_version WHERE id = 1').pluck();

  // Bearer lookups by token digest, valid while the agents version (agents-schema.ts) stays the
  // same: every request still costs one read, of a one-row table, instead of the agent row and
  // the JSON of its grants. A change to any agent, made by any process, empties the cache before
  // the next lookup. Records are frozen: every request of that agent shares one.
  const cache = new Map<string, AgentRecord>();
  let cachedVersion: number | undefined;
  // The counter is only as good as its triggers: someone with the file can drop them (the audit
  // tamper tests do). The schema version moves when they do; then the cache is used only while
  // all three still exist, so a revocation is never hidden behind a stale entry.
  // The PRAGMA itself, not the pragma_schema_version table function: that one prepares the PRAGMA
  // anew on every call (~3× the cost), and this read runs on every request.
  const schemaVersion = db.prepare<[], number>('PRAGMA schema_version').pluck();
  const triggers = db
    .prepare<[], number>("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'agents_version_on_%'")
    .pluck();
  let checkedSchema: number | undefined;
  let triggersIntact = false;
  const cacheUsable = (): boolean => {
    const schema = schemaVersion.get();
    if (schema !== checkedSchema) {
      checkedSchema = schema;
      triggersIntact = triggers.get() === 3;
      cache.clear();
    }
    return triggersIntact;
  };

  return {
    async byTokenHash(tokenHash) {
      const current = cacheUsable() ? version.get() : undefined;
      // No counter or no triggers (a damaged schema): no cache, every lookup reads the row.
      if (current === undefined) {
        const row = byHash.get(tokenHash);
        return row && toAgent(row);
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
      const record = toAgent(row);
      for (const grant of record.grants) Object.freeze(grant);
      Object.freeze(record.grants);
      Object.freeze(record);
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(tokenHash, record);
      return record;
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
