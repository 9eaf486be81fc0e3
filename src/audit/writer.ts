import type { Logger } from '../_utils/logger.js';
import { CreddyError, isCreddyError } from '../errors.js';
import type { Metrics } from '../metrics/port.js';
import type { AuditRow } from '../model/audit.js';
import type { AppendedRows, AuditEntry, AuditSealer, HolderChange, Store } from '../store/port.js';
import { createExpiryQueue, type Expirable } from './expiry-queue.js';

/**
 * A committed row, as the writer answers it. `holderChanged`: the entry's `holder` (the agent
 * record its credential is issued to) was no longer the record the request was judged by when the
 * row committed, and how it stood then (`AppendedRows`).
 */
export type WrittenRow = AuditRow & { readonly holderChanged?: HolderChange };

/** A reported change without the entry index it was reported under. */
const holderChangeOf = ({ revoked, tokenRotated, keyRemoved, grants }: HolderChange): HolderChange => ({
  revoked,
  tokenRotated,
  keyRemoved,
  grants,
});

/** Appends audit entries durably; every caller waits for its own row or a 503. */
export interface AuditWriter {
  /** Resolves once the entry is committed; rejects with ERR_AUDIT_UNAVAILABLE (fail-closed). */
  write(entry: AuditEntry): Promise<WrittenRow>;
  /** Waits for queued entries to commit, and for transactions it stopped waiting for to end (shutdown). */
  flush(): Promise<void>;
  /** Entries waiting for their commit: queued, or in the transaction in flight (a metric). */
  depth(): number;
}

interface Pending extends Expirable {
  readonly entry: AuditEntry;
  readonly resolve: (row: WrittenRow) => void;
  readonly reject: (err: unknown) => void;
  /** The caller already got a 503: drop the entry if not yet sent, compensate if it commits late. */
  timedOut: boolean;
  /** The transaction the entry was sent in (see `Attempt`), once sent. */
  attempt: Attempt | undefined;
}

/**
 * The transaction in flight, which the writer stops waiting for `timeoutMs` after its first entry
 * timed out (by then that caller has had its 503 for a whole `timeoutMs`). The timer is armed by
 * that timeout, not per transaction: a store that answers in time costs no timer at all.
 */
interface Attempt {
  timer: NodeJS.Timeout | undefined;
  readonly giveUp: () => void;
}

/**
 * Replaces lone UTF-16 surrogates and NUL characters with U+FFFD at every depth, so that every
 * store keeps exactly the string the HMAC was computed over:
 * - SQLite stores U+FFFD for a lone surrogate: without this, one hostile string would make its row
 *   fail verification for ever;
 * - PostgreSQL refuses NUL in text and as `\u0000` in jsonb (the audit indexes cast `details`):
 *   one caller's NUL (in a scope, metadata, a URL path) would fail its row's insert, and with it
 *   every request committed in the same group.
 * Returns `value` itself when nothing needs repair (every event but a hostile one), so the common
 * case walks the event without copying it.
 */
export function wellFormed<T>(value: T): T {
  return isWellFormedDeep(value) ? value : repair(value);
}

const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed() && !s.includes('\0');

function isWellFormedDeep(value: unknown): boolean {
  if (typeof value === 'string') return isWellFormed(value);
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.every(isWellFormedDeep);
  // Anything but a plain object (a Date, a class instance) goes through repair, which turns it
  // into a plain object the way it always has.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!isWellFormed(key) || !isWellFormedDeep((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function repair<T>(value: T): T {
  if (typeof value === 'string') return (value as unknown as { toWellFormed(): string }).toWellFormed().replaceAll('\0', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map(repair) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [repair(k), repair(v)])) as T;
  }
  return value;
}

/**
 * Group commit: entries queued while a transaction is in flight share the next one, so N
 * concurrent requests cost one fsync, not N. Each write is bounded by `timeoutMs`: a stalled or
 * failing store turns into ERR_AUDIT_UNAVAILABLE and the broker returns no credential. The writer
 * waits for one transaction until `timeoutMs` after its first entry timed out (twice `timeoutMs`
 * after that entry was written, at most) and then goes on with the next: a store that never
 * answers (a connection gone silent) stalls neither later writes nor the queue's memory. A
 * transaction it stopped waiting for may still commit; its rows are then compensated like any
 * late commit.
 */
export function createAuditWriter(options: {
  store: Store;
  seal: AuditSealer;
  timeoutMs: number;
  logger: Logger;
  /** Told the last seq of every committed batch (drives row-count checkpoints). */
  onCommit?: (lastSeq: number) => void;
  /**
   * Told of an entry that committed after its caller had already failed closed (the write was
   * in flight when the timeout fired), so the broker can undo what the row records.
   */
  onLateCommit?: (row: AuditRow, entry: AuditEntry) => Promise<void>;
  /** Told each transaction's size and duration. */
  metrics?: Pick<Metrics, 'auditCommit'>;
}): AuditWriter {
  const { store, seal, timeoutMs, logger } = options;
  let queue: Pending[] = [];
  let committing = 0;
  let inFlight: Promise<void> | undefined;
  /** Transactions the writer stopped waiting for, until they end one way or the other. */
  const abandoned = new Set<Promise<void>>();
  const timeouts = createExpiryQueue<Pending>(timeoutMs, (pending) => {
    pending.timedOut = true;
    const attempt = pending.attempt;
    if (attempt && attempt.timer === undefined) {
      attempt.timer = setTimeout(attempt.giveUp, timeoutMs);
      attempt.timer.unref();
    }
    pending.reject(
      new CreddyError('ERR_AUDIT_UNAVAILABLE', `audit log did not confirm the write within ${timeoutMs} ms; no credential was returned`),
    );
  });

  /** Answers each entry of a committed group; rows of callers already answered 503 are compensated. */
  const settle = (batch: readonly Pending[], rows: AppendedRows): void => {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const row = rows[i]!;
      if (!p.timedOut) {
        p.settled = true;
        // A copy only in the rare case: the rows of a batch keep one shape.
        const changed = rows.holderChanged?.find((c) => c.entry === i);
        p.resolve(changed ? { ...row, holderChanged: holderChangeOf(changed) } : row);
        continue;
      }
      logger.error('audit row committed after its request failed closed; compensating', { seq: row.seq, type: row.type });
      options.onLateCommit?.(row, p.entry).catch((err: unknown) => {
        logger.error('compensating a late audit commit failed', { seq: row.seq, error: String(err) });
      });
    }
    const last = rows.at(-1);
    if (last) options.onCommit?.(last.seq);
  };

  /**
   * Follows a transaction the writer no longer waits for. Its callers are all answered (503), so
   * if it commits after all, every row is compensated (settle), none answered; if it fails,
   * nothing was written.
   */
  const followAbandoned = (batch: readonly Pending[], attempt: Promise<AppendedRows>): void => {
    for (const p of batch) p.timedOut = true;
    const outcome = attempt.then(
      (rows) => settle(batch, rows),
      () => {},
    );
    abandoned.add(outcome);
    void outcome.finally(() => abandoned.delete(outcome));
  };

  /** One transaction for `batch`: answers its entries if it commits, else returns the error unanswered. */
  const append = async (batch: readonly Pending[]): Promise<unknown> => {
    committing = batch.length;
    const started = performance.now();
    const attempt = store.audit.append(
      batch.map((p) => p.entry),
      seal,
    );
    let gaveUp: CreddyError | undefined;
    let giveUp!: () => void;
    const abandonedAt = new Promise<never>((_, reject) => {
      // ERR_NOT_READY: the store may yet commit it, the ambiguity commit() never retries.
      giveUp = () => reject((gaveUp = new CreddyError('ERR_NOT_READY', 'the store did not answer an audit transaction in time')));
    });
    const watch: Attempt = { timer: undefined, giveUp };
    for (const p of batch) p.attempt = watch;
    try {
      const rows = await Promise.race([attempt, abandonedAt]);
      options.metrics?.auditCommit(batch.length, (performance.now() - started) / 1000, true);
      settle(batch, rows);
      return undefined;
    } catch (err) {
      options.metrics?.auditCommit(batch.length, (performance.now() - started) / 1000, false);
      if (err === gaveUp) followAbandoned(batch, attempt);
      return err;
    } finally {
      clearTimeout(watch.timer);
      for (const p of batch) p.attempt = undefined;
      committing = 0;
    }
  };

  const failClosed = (batch: readonly Pending[], err: unknown): void => {
    logger.error('audit write failed; failing closed', { error: (err as Error).message, events: batch.length });
    const failure = new CreddyError('ERR_AUDIT_UNAVAILABLE', 'audit log unavailable; nothing was issued', { cause: err });
    for (const p of batch) {
      p.settled = true;
      p.reject(failure);
    }
  };

  const commit = async (): Promise<void> => {
    while (queue.length > 0) {
      // Entries whose caller already got a 503 are never written: the log must not say
      // "issued" for a credential nobody received.
      const batch = queue.filter((p) => !p.timedOut);
      queue = [];
      if (batch.length === 0) continue;
      const failed = await append(batch);
      if (failed === undefined) continue;
      // A store that cannot be reached (ERR_NOT_READY: a lost PostgreSQL connection) may have
      // committed the group after all, the one ambiguity no broker can remove: writing its rows
      // again could record them twice. Only a store that refused the group is asked row by row.
      if (batch.length === 1 || isCreddyError(failed, 'ERR_NOT_READY')) {
        failClosed(batch, failed);
        continue;
      }
      // A group fails as a whole (one transaction). One row the store refused must not cost the
      // other requests of its turn their credentials, so each is tried alone; a store that is
      // down refuses each as it refused the group, and an entry whose caller has had its 503
      // meanwhile is not written.
      logger.warn('audit group commit failed; committing its rows one by one', { error: (failed as Error).message, events: batch.length });
      const refused: Array<{ p: Pending; err: unknown }> = [];
      for (const p of batch) {
        if (p.timedOut) continue;
        const err = await append([p]);
        if (err !== undefined) refused.push({ p, err });
      }
      // One log line for what failed, as for a group: a store that is down says so once.
      if (refused.length > 0)
        failClosed(
          refused.map((r) => r.p),
          refused.at(-1)!.err,
        );
    }
  };

  const schedule = (): void => {
    if (inFlight) return;
    // setImmediate lets every request that is ready in this turn join the batch.
    inFlight = new Promise<void>((done) => setImmediate(() => void commit().finally(done))).finally(() => {
      inFlight = undefined;
      if (queue.length > 0) schedule();
    });
  };

  return {
    write(entry) {
      return new Promise<WrittenRow>((resolve, reject) => {
        const event = wellFormed(entry.event);
        const pending: Pending = {
          entry: event === entry.event ? entry : { ...entry, event },
          resolve,
          reject,
          timedOut: false,
          settled: false,
          attempt: undefined,
        };
        timeouts.add(pending);
        queue.push(pending);
        schedule();
      });
    },
    async flush() {
      while (inFlight || abandoned.size > 0) await Promise.all([inFlight, ...abandoned]);
    },
    depth: () => queue.length + committing,
  };
}
