import type Database from 'better-sqlite3';
import type { AuditCheckpoint, AuditEvent, AuditSigningKeyRecord } from '../../model/audit.js';
import type { AuditSealer, PruneRecord, Store } from '../port.js';
import { PruneRecordRejected, pruneRecordRefused } from '../prune-record.js';
import { type CheckpointDbRow, namesAnchor, type SigningKeyDbRow, toCheckpoint, toSigningKey } from '../rows.js';
import { createAppendTransaction } from './audit-append.js';
import type { AuditWorker } from './audit-worker-client.js';

type CheckpointMethods = Pick<
  Store['audit'],
  | 'head'
  | 'checkpoint'
  | 'checkpoints'
  | 'ensureSigningKey'
  | 'signingKeys'
  | 'resealSigningKey'
  | 'firstSeqFrom'
  | 'pruneBelow'
  | 'recordPrunedStart'
>;

/**
 * The transaction that stores an already signed checkpoint unless one at or past its seq exists
 * (another process got there first); true if stored. The triggers still require that it names an
 * existing row with that hash. Run with `.immediate()`.
 */
export function createCheckpointInsert(db: Database.Database): Database.Transaction<(checkpoint: AuditCheckpoint) => boolean> {
  const lastCheckpoint = db.prepare<[], number>('SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1').pluck();
  const insertCheckpoint = db.prepare(
    'INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (@seq, @hash, @time, @keyId, @signature)',
  );
  return db.transaction((checkpoint: AuditCheckpoint): boolean => {
    if ((lastCheckpoint.get() ?? 0) >= checkpoint.seq) return false;
    insertCheckpoint.run(checkpoint);
    return true;
  });
}

/**
 * Checkpoints, the audit signing key and retention pruning (schema: audit-schema.ts). With an
 * audit worker (a server), checkpoints are stored on the worker's connection: the head is read
 * and signed here, without the write lock, and stored there unless a newer checkpoint exists. A
 * row appended meanwhile is covered by the next checkpoint; the one stored still names a real
 * row with its real hash (enforced by trigger), which is all a checkpoint states.
 */
export function sqliteAuditCheckpoints(db: Database.Database, worker?: AuditWorker): CheckpointMethods {
  const head = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const lastCheckpoint = db.prepare<[], { seq: number }>('SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1');
  const insertCheckpoint = db.prepare(
    'INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (@seq, @hash, @time, @keyId, @signature)',
  );
  const rangeCheckpoints = db.prepare<[number, number], CheckpointDbRow>(
    'SELECT * FROM audit_checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq',
  );
  const allKeys = db.prepare<[], SigningKeyDbRow>('SELECT * FROM audit_signing_keys ORDER BY created_at, kid');
  const insertKey = db.prepare(
    'INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES (@kid, @publicX, @sealedPrivate, @kekId, @createdAt)',
  );
  const reseal = db.prepare('UPDATE audit_signing_keys SET sealed_private = ?, kek_id = ? WHERE kid = ?');
  const firstFrom = db.prepare<[number], { seq: number }>('SELECT seq FROM audit_events WHERE time >= ? ORDER BY time, seq LIMIT 1');
  const openGate = db.prepare('UPDATE audit_prune_gate SET below_seq = ? WHERE id = 1');
  const deleteRows = db.prepare('DELETE FROM audit_events WHERE seq < ?');
  const deleteCheckpoints = db.prepare('DELETE FROM audit_checkpoints WHERE seq < ?');

  // Read the head and write the checkpoint under one write lock, so it signs what is really last.
  const checkpointTx = db.transaction((sign: Parameters<CheckpointMethods['checkpoint']>[0]): AuditCheckpoint | undefined => {
    const current = head.get();
    if (!current || (lastCheckpoint.get()?.seq ?? 0) >= current.seq) return undefined;
    const checkpoint = sign(current);
    insertCheckpoint.run(checkpoint);
    return checkpoint;
  });
  const ensureKeyTx = db.transaction((create: () => AuditSigningKeyRecord): AuditSigningKeyRecord => {
    const existing = allKeys.all().at(-1);
    if (existing) return toSigningKey(existing);
    const record = create();
    insertKey.run({ ...record, sealedPrivate: Buffer.from(record.sealedPrivate) });
    return record;
  });
  const firstSeq = db.prepare<[], number>('SELECT seq FROM audit_events ORDER BY seq LIMIT 1').pluck();
  // Nested in pruneTx (a savepoint): the step's record commits or rolls back with its delete.
  const appendRecord = createAppendTransaction(db);
  // The gate opens at a checkpointed row (trigger-checked), lets exactly the prefix go, and
  // closes; the audit.pruned row naming what went is appended before the same COMMIT, so no
  // committed step ever leaves a log that starts without the record of its removal.
  const pruneTx = db.transaction((anchorSeq: number, record: PruneRecord): number => {
    const fromSeq = firstSeq.get();
    if (fromSeq === undefined || fromSeq >= anchorSeq) return 0; // another process pruned past it
    openGate.run(anchorSeq);
    const { changes } = deleteRows.run(anchorSeq);
    deleteCheckpoints.run(anchorSeq);
    openGate.run(0);
    try {
      appendRecord([{ event: record.event({ fromSeq, anchorSeq, deleted: changes }) }], record.seal);
    } catch (err) {
      throw new PruneRecordRejected('audit append failed', { cause: err });
    }
    return changes;
  });

  // Read under the same write lock as the append: the decision and the row are one transaction.
  const prunedDetails = db.prepare<[], string | null>("SELECT details FROM audit_events WHERE type = 'audit.pruned'").pluck();
  const recordStartTx = db.transaction((startSeq: number, record: { event: AuditEvent; seal: AuditSealer }): boolean => {
    if (firstSeq.get() !== startSeq) return false; // pruned past, or emptied, since it was read
    if (prunedDetails.all().some((details) => namesAnchor(details, startSeq))) return false; // recorded meanwhile
    try {
      appendRecord([{ event: record.event }], record.seal);
    } catch (err) {
      throw new PruneRecordRejected('audit append failed', { cause: err });
    }
    return true;
  });

  return {
    async head() {
      return head.get();
    },
    async checkpoint(sign) {
      if (!worker) return checkpointTx.immediate(sign);
      const current = head.get();
      if (!current || (lastCheckpoint.get()?.seq ?? 0) >= current.seq) return undefined;
      const checkpoint = sign(current);
      return (await worker.insertCheckpoint(checkpoint)) ? checkpoint : undefined;
    },
    async checkpoints(range = {}) {
      return rangeCheckpoints.all(range.fromSeq ?? 0, range.toSeq ?? Number.MAX_SAFE_INTEGER).map(toCheckpoint);
    },
    async ensureSigningKey(create) {
      return ensureKeyTx.immediate(create);
    },
    async signingKeys() {
      return allKeys.all().map(toSigningKey);
    },
    async resealSigningKey(kid, sealedPrivate, kekId) {
      reseal.run(Buffer.from(sealedPrivate), kekId, kid);
    },
    async firstSeqFrom(timeMs) {
      return firstFrom.get(timeMs)?.seq;
    },
    async pruneBelow(anchorSeq, record) {
      return refusedRecordCoded(() => pruneTx.immediate(anchorSeq, record));
    },
    async recordPrunedStart(startSeq, record) {
      return refusedRecordCoded(() => recordStartTx.immediate(startSeq, record));
    },
  };
}

/** Runs a transaction that appends an `audit.pruned` row; a refused row becomes its coded error. */
function refusedRecordCoded<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof PruneRecordRejected) throw pruneRecordRefused(err.cause);
    throw err;
  }
}
