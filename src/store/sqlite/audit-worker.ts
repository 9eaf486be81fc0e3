/**
 * Worker thread that owns a second connection and runs the audit log's write transactions, so
 * the fsync of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction: a batch of the group commit (one JSON
 * string in, chain positions out: audit-batch.ts) with perhaps a signed checkpoint riding along,
 * or a signed checkpoint to store alone.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditCheckpoint } from '../../model/audit.js';
import type { AppendedRows, AuditEntry, AuditSealer } from '../port.js';
import { createAppendTransaction } from './audit-append.js';
import { batchResult, decodeBatch, type WireSealer } from './audit-batch.js';
import { createCheckpointInsert } from './audit-checkpoints.js';
import type { AppendAnswer, AuditWorkerRequest } from './audit-worker-client.js';
import { openSqlite } from './connect.js';

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path, { durable });
/**
 * This connection's page cache, in KiB (SQLite's own default). It only appends: what it reads
 * is the right edge of each table and index and the chain head. better-sqlite3's default of
 * 16 MB filled up with pages written once and never read again, ~16 MB of the server's RSS.
 */
const PAGE_CACHE_KIB = 2000;
db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
const appendAll = createAppendTransaction(db);
const insertCheckpoint = createCheckpointInsert(db);

/**
 * Rows appended between two WAL checkpoints of this connection (~1.5 WAL pages a row of the
 * issue path, so about SQLite's default of 1000 pages). The checkpoint (copying the WAL into the
 * database and fsyncing it) runs after the batch that crossed the mark has been answered
 * (`checkpointWalIfDue`). SQLite's own automatic checkpoint ran inside that batch's COMMIT: the
 * batch waited for it (its commit took 14 ms instead of 7 at the median under the issuance bench,
 * every ~40th batch) and so did the batch queued behind it.
 */
const WAL_CHECKPOINT_ROWS = 700;
/**
 * SQLite's automatic checkpoint, in WAL pages, stays as a backstop for rows far larger than the
 * issue path's (metadata near its size limit), which could let the WAL grow past it first.
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
let rowsSinceWalCheckpoint = 0;

/** Checkpoints the WAL once WAL_CHECKPOINT_ROWS rows were appended since the last time. */
function checkpointWalIfDue(): void {
  if (rowsSinceWalCheckpoint < WAL_CHECKPOINT_ROWS) return;
  rowsSinceWalCheckpoint = 0;
  try {
    // PASSIVE: never waits for readers or for another process's writer; what it cannot copy
    // now, the next one does.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // The WAL only grows until the next checkpoint (or the backstop): not an audit failure.
  }
}

/**
 * A batch and the checkpoint that rides with it, in one transaction (one fsync). The checkpoint
 * goes in a savepoint of its own (a nested better-sqlite3 transaction): if it is refused, it alone
 * rolls back and the batch still commits — a checkpoint must never cost requests their rows.
 */
const appendWithCheckpoint = db.transaction(
  (
    entries: readonly AuditEntry[],
    seal: AuditSealer,
    checkpoint: AuditCheckpoint,
  ): { rows: AppendedRows; checkpoint: NonNullable<AppendAnswer['checkpoint']> } => {
    const rows = appendAll(entries, seal);
    try {
      return { rows, checkpoint: { stored: insertCheckpoint(checkpoint) } };
    } catch (err) {
      return { rows, checkpoint: { error: err instanceof Error ? err.message : String(err) } };
    }
  },
);

/**
 * How long a write waits for the write lock (the longest `audit.write_timeout`). This thread is
 * not the event loop, so it may wait longer than the main connection's busy_timeout; the writer's
 * own timeout answers the request meanwhile.
 */
const LOCK_WAIT_MS = 10_000;
/** Pause between attempts to take the write lock. */
const LOCK_POLL_MS = 0.25;
// SQLite's own busy handler sleeps 1, 2, 5 … 100 ms between attempts: with other processes
// appending back to back (`--workers`), it wakes after the lock was already taken again, and
// waits on. Polling every LOCK_POLL_MS finds the short gaps between their commits.
db.pragma('busy_timeout = 0');
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Runs one write transaction, retrying while another process holds the write lock. */
function withWriteLock<T>(write: () => T): T {
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return write();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || performance.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, LOCK_POLL_MS);
    }
  }
}

// The sealer comes as data (the module that builds it, and its key): the store never imports
// audit code, and the worker rebuilds the very function the main thread would have run.
const sealers = new Map<string, AuditSealer>();
const sealerFor = async ({ module, id, keyHex }: WireSealer): Promise<AuditSealer> => {
  const cacheKey = `${module}#${id}`;
  let seal = sealers.get(cacheKey);
  if (!seal) {
    const { createSealer } = (await import(module)) as { createSealer(k: { id: string; key: Buffer }): AuditSealer };
    seal = createSealer({ id, key: Buffer.from(keyHex, 'hex') });
    sealers.set(cacheKey, seal);
  }
  return seal;
};

const handle = async (message: AuditWorkerRequest): Promise<unknown> => {
  if (message.op === 'checkpoint') {
    const { checkpoint } = message;
    return withWriteLock(() => insertCheckpoint.immediate(checkpoint));
  }
  const seal = await sealerFor(message.sealer);
  const entries = decodeBatch(message.batch);
  rowsSinceWalCheckpoint += entries.length;
  const { checkpoint } = message;
  if (!checkpoint) return { rows: batchResult(withWriteLock(() => appendAll.immediate(entries, seal))) } satisfies AppendAnswer;
  const done = withWriteLock(() => appendWithCheckpoint.immediate(entries, seal, checkpoint));
  return { rows: batchResult(done.rows), checkpoint: done.checkpoint } satisfies AppendAnswer;
};

parentPort!.on('message', (message: AuditWorkerRequest & { id: number }) => {
  handle(message)
    .then((result) => parentPort!.postMessage({ id: message.id, result }))
    .catch((err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }))
    // After the answer is on its way: its requests do not wait for the checkpoint.
    .finally(checkpointWalIfDue);
});
