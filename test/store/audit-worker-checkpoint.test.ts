import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditCheckpoint, AuditHead } from '../../src/model/audit.js';
import type { Store } from '../../src/store/port.js';
import { tempDir } from '../helpers/setup.js';

// The built code: the audit worker runs only from dist/ (from sources the store appends inline).
// Imported by a computed path, typed as the sources: `npm run lint` type-checks before any build.
const DIST = '../../dist';
const { createSealer } = (await import(`${DIST}/audit/chain.js`)) as typeof import('../../src/audit/chain.js');
const { auditEvent } = (await import(`${DIST}/model/audit.js`)) as typeof import('../../src/model/audit.js');
const { createSqliteStore } = (await import(`${DIST}/store/sqlite/index.js`)) as typeof import('../../src/store/sqlite/index.js');

/**
 * Transactions in the WAL since it last restarted: frames whose salts match the WAL header and
 * whose "database size after commit" field is set are commit frames, one per transaction.
 */
function walCommits(dbPath: string): number {
  const wal = readFileSync(`${dbPath}-wal`);
  const pageSize = wal.readUInt32BE(8);
  const salts = wal.subarray(16, 24);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (!wal.subarray(at + 8, at + 16).equals(salts)) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

/**
 * A server's signed checkpoints go to the audit worker. A checkpoint waits (briefly) for the next
 * batch and is stored in its transaction: no fsynced commit of its own for the requests of that
 * batch to queue behind. A checkpoint the store refuses costs the batch nothing.
 */
describe('audit worker: checkpoints ride with the next batch', () => {
  let dir: { dir: string; cleanup: () => void };
  let path: string;
  let store: Store;
  const seal = createSealer({ id: 'test', key: randomBytes(32) });
  const entry = (n: number) => ({
    event: auditEvent({ time: Date.now(), type: 'credential.denied', outcome: 'denied', actor: 'bot', reason: `r${n}` }),
  });
  const sign =
    (hash?: string) =>
    (head: AuditHead): AuditCheckpoint => ({ seq: head.seq, hash: hash ?? head.hash, time: Date.now(), keyId: 'k', signature: 'sig' });
  const checkpointSeqs = (): number[] => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare('SELECT seq FROM audit_checkpoints ORDER BY seq').pluck().all() as number[];
    } finally {
      db.close();
    }
  };

  beforeEach(async () => {
    dir = tempDir('creddy-audit-worker-');
    path = join(dir.dir, 'creddy.db');
    store = createSqliteStore(path);
    await store.audit.append([entry(0)], seal);
  });
  afterEach(async () => {
    await store.close();
    dir.cleanup();
  });

  it('stores a checkpoint asked for during a batch in the next batch’s transaction', async () => {
    const before = walCommits(path);
    const first = store.audit.append([entry(1), entry(2)], seal);
    const checkpoint = store.audit.checkpoint(sign());
    // The next batch, sent soon, whether or not the first was answered: a slow machine must not
    // outlast the checkpoint's wait (the store retries a read SQLite calls busy after 1–8 ms).
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = store.audit.append([entry(3)], seal);
    await first;
    expect((await second).map((r) => r.seq)).toEqual([4]);
    // Signed at the head as it was asked for: before the first batch, or after it if the read
    // was retried.
    const stored = await checkpoint;
    expect([1, 3]).toContain(stored?.seq);
    expect(checkpointSeqs()).toEqual([stored!.seq]);
    // Two transactions: the first batch, then the second with the checkpoint.
    expect(walCommits(path) - before).toBe(2);
  });

  it('keeps a checkpoint asked for between batches for the next one', async () => {
    // All requests in one batch: the next is formed only after every answer went out.
    const before = walCommits(path);
    const checkpoint = store.audit.checkpoint(sign());
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.audit.append([entry(1)], seal);
    expect(await checkpoint).toMatchObject({ seq: 1 });
    expect(checkpointSeqs()).toEqual([1]);
    expect(walCommits(path) - before).toBe(1);
  });

  it('stores a checkpoint alone when no batch follows', async () => {
    const first = store.audit.append([entry(1)], seal);
    const checkpoint = store.audit.checkpoint(sign());
    await first;
    expect(await checkpoint).toMatchObject({ seq: 1 });
    expect(checkpointSeqs()).toEqual([1]);
    // And when the worker is idle.
    expect(await store.audit.checkpoint(sign())).toMatchObject({ seq: 2 });
    expect(checkpointSeqs()).toEqual([1, 2]);
  });

  it('commits the batch when the checkpoint riding with it is refused', async () => {
    const first = store.audit.append([entry(1)], seal);
    const refused = expect(store.audit.checkpoint(sign('0'.repeat(64)))).rejects.toThrow(/checkpoint must name an existing row/);
    const second = store.audit.append([entry(2)], seal);
    await first;
    await refused;
    expect((await second).map((r) => r.seq)).toEqual([3]);
    expect(checkpointSeqs()).toEqual([]);
    const rows = await store.audit.query({ order: 'asc', limit: 10 });
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
  });
});

/**
 * The audit worker checkpoints the WAL itself every few hundred rows, after answering the batch
 * that crossed the mark (SQLite's automatic checkpoint ran inside that batch's COMMIT).
 */
describe('audit worker: WAL checkpoints', () => {
  it('checkpoints the WAL after every few hundred rows, so it restarts', async () => {
    const dir = tempDir('creddy-audit-wal-');
    const path = join(dir.dir, 'creddy.db');
    const store = createSqliteStore(path);
    const seal = createSealer({ id: 'test', key: randomBytes(32) });
    try {
      const row = (n: number) => ({
        event: auditEvent({ time: Date.now(), type: 'credential.denied', outcome: 'denied', actor: 'bot', reason: `r${n}` }),
      });
      for (let batch = 0; batch < 16; batch++)
        await store.audit.append(
          Array.from({ length: 50 }, (_, i) => ({ ...row(batch * 50 + i) })),
          seal,
        );
      // 800 small rows: far below SQLite's own 1000-page mark (which kept all 16 commits in the
      // WAL); the checkpoint after the 700th row let the next commit start the WAL over.
      expect(walCommits(path)).toBeLessThanOrEqual(2);
      const db = new Database(path, { readonly: true });
      expect(db.prepare('SELECT count(*) FROM audit_events').pluck().get()).toBe(800);
      db.close();
    } finally {
      await store.close();
      dir.cleanup();
    }
  });
});
