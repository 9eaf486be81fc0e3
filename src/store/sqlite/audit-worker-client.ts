import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { AuditRow } from '../../model/audit.js';
import type { AuditEntry, PortableSealer } from '../port.js';
import { type BatchResult, encodeBatch, rowsFromResult, wireSealer } from './audit-batch.js';

export interface AuditAppendWorker {
  append(entries: readonly AuditEntry[], sealer: PortableSealer): Promise<AuditRow[]>;
}

interface Pending {
  readonly resolve: (result: BatchResult) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Runs audit appends on a worker thread with its own connection to the same file. better-sqlite3
 * is synchronous: inline, a durable commit blocks the event loop for its fsync and no request can
 * reach the audit queue meanwhile, so batches stay small. Off-thread, requests keep arriving
 * during the fsync and the next batch fills up — group commit that actually groups.
 *
 * Undefined (the caller appends inline) for in-memory databases and when the compiled worker is
 * not next to this file (running from TypeScript sources, as the tests do).
 */
export function createAuditAppendWorker(db: Database.Database, durable: boolean): AuditAppendWorker | undefined {
  const url = new URL('./audit-worker.js', import.meta.url);
  if (db.memory || !existsSync(fileURLToPath(url))) return undefined;
  const pending = new Map<number, Pending>();
  let worker: Worker | undefined;
  let nextId = 1;

  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined; // the next append starts a fresh one: the store recovers with the disk
  };
  const start = (): Worker => {
    const w = new Worker(url, { workerData: { path: db.name, durable } });
    w.unref(); // an idle worker must not keep a CLI process alive; ref'd while appends are pending
    w.on('message', (m: { id: number; result?: BatchResult; error?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.result!);
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => {
      if (worker === w) failAll(new Error(`audit worker exited (${code})`));
    });
    return w;
  };

  return {
    async append(entries, sealer) {
      if (entries.length === 0) return [];
      const w = (worker ??= start());
      const id = nextId++;
      // One string per batch (audit-batch.ts): cloning it is a copy, not a walk over objects.
      const batch = encodeBatch(entries);
      const result = await new Promise<BatchResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.ref();
        w.postMessage({ id, batch, sealer: wireSealer(sealer) });
      });
      return rowsFromResult(entries, result);
    },
  };
}
