import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { CreddyError } from '../../errors.js';
import type { AuditCheckpoint } from '../../model/audit.js';
import type { AppendedRows, AuditEntry, PortableSealer } from '../port.js';
import { type BatchResult, encodeBatch, rowsFromResult, wireSealer } from './audit-batch.js';

/** The audit log's writes, run on the worker's connection (audit-worker.ts). */
export interface AuditWorker {
  append(entries: readonly AuditEntry[], sealer: PortableSealer): Promise<AppendedRows>;
  /** Stores a signed checkpoint unless one at or past its seq exists; true if stored. */
  insertCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean>;
}

/** A request to the worker; its answer comes back under the same id. */
export type AuditWorkerRequest =
  | { readonly op: 'append'; readonly batch: string; readonly sealer: ReturnType<typeof wireSealer> }
  | { readonly op: 'checkpoint'; readonly checkpoint: AuditCheckpoint };

/** Young generation of the worker's heap (V8 default: 32 MB on 64-bit). */
const WORKER_YOUNG_GENERATION_MB = 4;

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Runs the audit log's writes on a worker thread with its own connection to the same file.
 * better-sqlite3 is synchronous: inline, a durable commit blocks the event loop for its fsync and
 * no request can reach the audit queue meanwhile, so batches stay small. Off-thread, requests keep
 * arriving during the fsync and the next batch fills up — group commit that actually groups.
 * Signed checkpoints are stored there too: on the main connection each one waited (asleep, in
 * SQLite's busy handler) for the worker's write lock and then for its own fsync, stalling every
 * request in flight a few times a second.
 *
 * Undefined (the caller writes inline) for in-memory databases and when the compiled worker is
 * not next to this file (running from TypeScript sources, as the tests do).
 */
export function createAuditWorker(db: Database.Database, durable: boolean): AuditWorker | undefined {
  const url = new URL('./audit-worker.js', import.meta.url);
  if (db.memory || !existsSync(fileURLToPath(url))) return undefined;
  const pending = new Map<number, Pending>();
  let worker: Worker | undefined;
  let nextId = 1;

  const failAll = (err: unknown): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined; // the next append starts a fresh one: the store recovers with the disk
  };
  const start = (): Worker => {
    // Its garbage is one batch at a time, yet V8 grew its young generation to the default 32 MB
    // under load, as large as the event loop's: capped at 4 MB (scavenges stay cheap: little of a batch survives), the process stays ~30 MB smaller.
    const w = new Worker(url, {
      workerData: { path: db.name, durable },
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    w.unref(); // an idle worker must not keep a CLI process alive; ref'd while appends are pending
    w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (m.error !== undefined) p?.reject(new CreddyError('ERR_AUDIT_UNAVAILABLE', `audit worker: ${m.error}`));
      else p?.resolve(m.result!);
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => {
      if (worker === w) failAll(new CreddyError('ERR_AUDIT_UNAVAILABLE', `audit worker exited (${code})`));
    });
    return w;
  };

  const call = <T>(request: AuditWorkerRequest): Promise<T> => {
    const w = (worker ??= start());
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      w.ref();
      w.postMessage({ id, ...request });
    });
  };

  return {
    async append(entries, sealer) {
      if (entries.length === 0) return [];
      // One string per batch (audit-batch.ts): cloning it is a copy, not a walk over objects.
      const result = await call<BatchResult>({ op: 'append', batch: encodeBatch(entries), sealer: wireSealer(sealer) });
      return rowsFromResult(entries, result);
    },
    insertCheckpoint(checkpoint) {
      return call<boolean>({ op: 'checkpoint', checkpoint });
    },
  };
}
