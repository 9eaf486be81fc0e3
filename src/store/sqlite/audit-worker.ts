/**
 * Worker thread that owns a second connection and runs audit append transactions, so the fsync
 * of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction = one batch of the group commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditRow } from '../../model/audit.js';
import type { AuditEntry, AuditSealer, PortableSealer } from '../port.js';
import { createAppendTransaction } from './audit-append.js';
import { openSqlite } from './connect.js';

interface AppendMessage {
  readonly id: number;
  readonly entries: readonly AuditEntry[];
  readonly sealer: PortableSealer;
}

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path, { durable });
const appendAll = createAppendTransaction(db);

/**
 * How long an append waits for the write lock (the longest `audit.write_timeout`). This thread is
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

const appendWaiting = (entries: readonly AuditEntry[], seal: AuditSealer): AuditRow[] => {
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return appendAll.immediate(entries, seal);
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || performance.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, LOCK_POLL_MS);
    }
  }
};

// The sealer comes as data (the module that builds it, and its key): the store never imports
// audit code, and the worker rebuilds the very function the main thread would have run.
const sealers = new Map<string, AuditSealer>();
const sealerFor = async ({ module, key }: PortableSealer): Promise<AuditSealer> => {
  const cacheKey = `${module}#${key.id}`;
  let seal = sealers.get(cacheKey);
  if (!seal) {
    const { createSealer } = (await import(module)) as { createSealer(k: { id: string; key: Buffer }): AuditSealer };
    seal = createSealer({ id: key.id, key: Buffer.from(key.key) });
    sealers.set(cacheKey, seal);
  }
  return seal;
};

parentPort!.on('message', (message: AppendMessage) => {
  sealerFor(message.sealer)
    .then((seal) => parentPort!.postMessage({ id: message.id, rows: appendWaiting(message.entries, seal) }))
    .catch((err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }));
});
