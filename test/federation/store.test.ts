/**
 * The store side of federation: the replay record decides races between connections (replicas
 * on one database), and `audit list --rule/--run-id` are index lookups, not scans.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers/harness.js';

let dir: string;
let cleanup: () => void;
let stores: Store[];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  const path = join(dir, 'creddy.db');
  stores = [createSqliteStore(path, { auditOffThread: false }), createSqliteStore(path, { auditOffThread: false })];
});
afterEach(async () => {
  for (const store of stores) await store.close();
  cleanup();
});

describe('store.replay', () => {
  it('claims a key once, across connections', async () => {
    const [a, b] = stores as [Store, Store];
    const exp = Math.floor(Date.now() / 1000) + 300;
    expect(await a.replay.claim('k1', exp)).toBe(true);
    expect(await b.replay.claim('k1', exp)).toBe(false);
    expect(await a.replay.claim('k1', exp)).toBe(false);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.replay.claim('k2', exp)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('purges keys an hour past their expiry, never live ones', async () => {
    const [a] = stores as [Store];
    const now = Math.floor(Date.now() / 1000);
    expect(await a.replay.claim('old', now - 3700)).toBe(true);
    expect(await a.replay.claim('recent', now - 60)).toBe(true);
    await a.replay.claim('trigger', now + 300);
    const db = new Database(join(dir, 'creddy.db'), { readonly: true });
    try {
      const keys = db.prepare('SELECT key FROM federation_replay ORDER BY key').pluck().all();
      expect(keys).toEqual(['recent', 'trigger']);
    } finally {
      db.close();
    }
  });
});

describe('audit query by federation rule and run', () => {
  it('uses the expression indexes', () => {
    const db = new Database(join(dir, 'creddy.db'), { readonly: true });
    try {
      const plan = (where: string) =>
        db
          .prepare(`EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE ${where} ORDER BY seq DESC LIMIT 10`)
          .all()
          .map((r) => (r as { detail: string }).detail)
          .join(' | ');
      expect(plan("json_extract(details, '$.federation.rule') = 'x'")).toContain('audit_federation_rule');
      expect(plan("json_extract(details, '$.federation.run_id') = 'x'")).toContain('audit_federation_run');
    } finally {
      db.close();
    }
  });
});
