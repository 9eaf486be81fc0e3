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

/**
 * A request to the worker; its answer comes back under the same id. An append may carry a signed
 * checkpoint to store in the same transaction (see `insertCheckpoint` below): the answer is then
 * an `AppendAnswer` with the checkpoint's outcome.
 */
export type AuditWorkerRequest =
  | {
      readonly op: 'append';
      readonly batch: string;
      readonly sealer: ReturnType<typeof wireSealer>;
      readonly checkpoint?: AuditCheckpoint;
    }
  | { readonly op: 'checkpoint'; readonly checkpoint: AuditCheckpoint };

/** The worker's answer to an append: where the rows landed, and what became of a checkpoint it carried. */
export interface AppendAnswer {
  readonly rows: BatchResult;
  /** Only when the append carried one: stored (true), superseded (false), or refused (its error). */
  readonly checkpoint?: { readonly stored: boolean } | { readonly error: string };
}

/** A checkpoint waiting to be stored with the next append. */
interface HeldCheckpoint {
  readonly checkpoint: AuditCheckpoint;
  readonly resolve: (stored: boolean) => void;
  readonly reject: (err: unknown) => void;
  /** Stores it alone once CHECKPOINT_RIDE_MS have passed without an append. */
  readonly timer: NodeJS.Timeout;
}

/**
 * How long a checkpoint waits for a batch to ride with. Under load one comes within a commit or
 * two (a few ms); a checkpoint is a statement about rows already committed, so it can wait. It
 * must wait even when no append is in flight: with every connection's request in one batch, the
 * next batch is formed only after the answers went out, and a checkpoint sent at once then was
 * the commit that batch queued behind.
 */
const CHECKPOINT_RIDE_MS = 50;

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
 * request in flight a few times a second. And a checkpoint rides with the next append
 * (`insertCheckpoint`), in its transaction: stored alone, it was one more fsynced commit that
 * the next batch of requests queued behind.
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
  let held: HeldCheckpoint | undefined;

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

  /** Takes the held checkpoint, if any, off its timer. */
  const takeHeld = (): HeldCheckpoint | undefined => {
    const taken = held;
    held = undefined;
    if (taken) clearTimeout(taken.timer);
    return taken;
  };
  /** Stores the held checkpoint in a transaction of its own: no append came to take it. */
  const sendHeldAlone = (): void => {
    const alone = takeHeld();
    if (alone) call<boolean>({ op: 'checkpoint', checkpoint: alone.checkpoint }).then(alone.resolve, alone.reject);
  };

  return {
    async append(entries, sealer) {
      if (entries.length === 0) return [];
      const riding = takeHeld();
      // One string per batch (audit-batch.ts): cloning it is a copy, not a walk over objects.
      const answer = call<AppendAnswer>({
        op: 'append',
        batch: encodeBatch(entries),
        sealer: wireSealer(sealer),
        ...(riding ? { checkpoint: riding.checkpoint } : {}),
      });
      if (riding) settleRiding(riding, answer);
      return rowsFromResult(entries, (await answer).rows);
    },
    insertCheckpoint(checkpoint) {
      return new Promise<boolean>((resolve, reject) => {
        // The checkpointer runs one checkpoint at a time; were one still held, the newer one
        // covers more rows, and the older counts as superseded (as when another process got
        // there first).
        takeHeld()?.resolve(false);
        // Not unref'd: a CLI process awaiting its checkpoint must not exit before it is stored.
        held = { checkpoint, resolve, reject, timer: setTimeout(sendHeldAlone, CHECKPOINT_RIDE_MS) };
      });
    },
  };
}

/** Answers a checkpoint that rode with an append from the append's answer. */
function settleRiding(riding: HeldCheckpoint, answer: Promise<AppendAnswer>): void {
  answer.then(({ checkpoint: outcome }) => {
    if (outcome && 'error' in outcome) riding.reject(new CreddyError('ERR_AUDIT_UNAVAILABLE', `audit worker: ${outcome.error}`));
    else riding.resolve(outcome?.stored ?? false);
  }, riding.reject);
}
