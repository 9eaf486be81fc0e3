import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealer } from '../../src/audit/chain.js';
import { signCheckpoint } from '../../src/audit/checkpoint.js';
import { auditEvent } from '../../src/model/audit.js';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers/harness.js';

const seal = createSealer({ id: 'k1', key: randomBytes(32) });
const event = (i: number) => auditEvent({ time: 1000 + i, type: 'agent.created', outcome: 'success', actor: 'cli', agent: `a${i}` });
const signer = { kid: 'test', publicX: '', sign: () => Buffer.alloc(64) };

describe('audit tables are append-only in the database', () => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'creddy.db');
  let store: Store;
  let db: Database.Database;

  beforeAll(async () => {
    store = createSqliteStore(path);
    await store.audit.append(
      [1, 2, 3, 4, 5, 6].map((i) => ({ event: event(i) })),
      seal,
    );
    db = new Database(path);
  });
  afterAll(async () => {
    db.close();
    await store.close();
    cleanup();
  });

  const rejects = (sql: string, ...params: unknown[]) =>
    expect(() => db.prepare(sql).run(...params)).toThrow(/append-only|checkpoint|gate/);
  const row = (seq: number) => db.prepare<[number], Record<string, unknown>>('SELECT * FROM audit_events WHERE seq = ?').get(seq)!;
  const cols = 'seq, time, type, outcome, actor, prev_hash, hash, key_id';
  const values = "?, 1, 'agent.created', 'success', 'x', ?, ?, 'k1'";

  it('rejects UPDATE', () => rejects("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"));
  it('rejects DELETE', () => rejects('DELETE FROM audit_events WHERE seq = 3'));
  it('rejects DELETE of the whole table', () => rejects('DELETE FROM audit_events'));
  it('rejects REPLACE and INSERT OR REPLACE of an existing row', () => {
    rejects(`REPLACE INTO audit_events (${cols}) VALUES (${values})`, 3, row(2)['hash'], 'f'.repeat(64));
    rejects(`INSERT OR REPLACE INTO audit_events (${cols}) VALUES (${values})`, 6, row(5)['hash'], 'f'.repeat(64));
  });
  it('rejects an insert that reuses a seq or goes back', () =>
    rejects(`INSERT OR IGNORE INTO audit_events (${cols}) VALUES (${values})`, 2, row(1)['hash'], 'f'.repeat(64)));
  it('rejects an insert that skips a seq', () =>
    rejects(`INSERT INTO audit_events (${cols}) VALUES (${values})`, 8, row(6)['hash'], 'f'.repeat(64)));
  it('rejects an insert whose prev_hash is not the last hash', () =>
    rejects(`INSERT INTO audit_events (${cols}) VALUES (${values})`, 7, '0'.repeat(64), 'f'.repeat(64)));
  it('the rows are untouched', () => expect(db.prepare('SELECT COUNT(*) AS n FROM audit_events').get()).toEqual({ n: 6 }));

  it('checkpoints: must name a real row and move forward; no UPDATE or DELETE', async () => {
    const made = await store.audit.checkpoint((head) => signCheckpoint(signer, head, 5));
    expect(made?.seq).toBe(6);
    expect(await store.audit.checkpoint((head) => signCheckpoint(signer, head, 6))).toBeUndefined();
    rejects("INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (3, 'nope', 1, 'test', 'x')");
    rejects("UPDATE audit_checkpoints SET hash = 'x'");
    rejects('DELETE FROM audit_checkpoints');
  });

  it('retention: the gate opens only at a checkpointed row; rows at or above it stay', async () => {
    rejects('UPDATE audit_prune_gate SET below_seq = 5');
    rejects('DELETE FROM audit_prune_gate');
    expect(await store.audit.pruneBelow(6, { event: () => event(7), seal })).toBe(5);
    expect(db.prepare('SELECT MIN(seq) AS s FROM audit_events').get()).toEqual({ s: 6 });
    expect(db.prepare('SELECT below_seq FROM audit_prune_gate').get()).toEqual({ below_seq: 0 });
    rejects('DELETE FROM audit_events WHERE seq = 6');
    // Appending still works after a prune (and its record, seq 7).
    await store.audit.append([{ event: event(8) }], seal);
    expect((await store.audit.head())?.seq).toBe(8);
  });
});
