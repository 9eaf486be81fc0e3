import type { Store } from '../port.js';
import { PruneRecordRejected, pruneRecordRefused } from '../prune-record.js';
import { type CheckpointDbRow, namesAnchor, type SigningKeyDbRow, toCheckpoint, toSigningKey } from '../rows.js';
import { appendInTx } from './audit-append.js';
import { type Db, lockAuditChain } from './db.js';
import { retentionRefusal } from './retention-floor.js';

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

const HEAD = 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1';
const ALL_KEYS = 'SELECT * FROM audit_signing_keys ORDER BY created_at, kid COLLATE "C"';

/**
 * Checkpoints, the audit signing key and retention pruning (schema-v2.ts). Everything that must
 * see the true head runs under the audit chain's advisory lock, as appends do, so replicas never
 * sign a head that another is extending, nor create two signing keys.
 */
export function postgresAuditCheckpoints(db: Db): CheckpointMethods {
  return {
    async head() {
      return (await db.query<{ seq: number; hash: string }>({ name: 'audit-head', text: HEAD })).rows[0];
    },
    async checkpoint(sign) {
      return db.transaction(async (tx) => {
        await lockAuditChain(tx);
        const current = (await tx.query<{ seq: number; hash: string }>({ name: 'audit-head', text: HEAD })).rows[0];
        const last = (await tx.query<{ seq: number }>('SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1')).rows[0];
        if (!current || (last?.seq ?? 0) >= current.seq) return undefined;
        const checkpoint = sign(current);
        await tx.query('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)', [
          checkpoint.seq,
          checkpoint.hash,
          checkpoint.time,
          checkpoint.keyId,
          checkpoint.signature,
        ]);
        return checkpoint;
      });
    },
    async checkpoints(range = {}) {
      const { rows } = await db.query<CheckpointDbRow>('SELECT * FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq', [
        range.fromSeq ?? 0,
        range.toSeq ?? Number.MAX_SAFE_INTEGER,
      ]);
      return rows.map(toCheckpoint);
    },
    async ensureSigningKey(create) {
      return db.transaction(async (tx) => {
        await lockAuditChain(tx);
        const existing = (await tx.query<SigningKeyDbRow>(ALL_KEYS)).rows.at(-1);
        if (existing) return toSigningKey(existing);
        const record = create();
        await tx.query('INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES ($1, $2, $3, $4, $5)', [
          record.kid,
          record.publicX,
          Buffer.from(record.sealedPrivate),
          record.kekId,
          record.createdAt,
        ]);
        return record;
      });
    },
    async signingKeys() {
      return (await db.query<SigningKeyDbRow>(ALL_KEYS)).rows.map(toSigningKey);
    },
    async resealSigningKey(kid, sealedPrivate, kekId) {
      await db.query('UPDATE audit_signing_keys SET sealed_private = $1, kek_id = $2 WHERE kid = $3', [
        Buffer.from(sealedPrivate),
        kekId,
        kid,
      ]);
    },
    async firstSeqFrom(timeMs) {
      const { rows } = await db.query<{ seq: number }>('SELECT seq FROM audit_events WHERE time >= $1 ORDER BY time, seq LIMIT 1', [
        timeMs,
      ]);
      return rows[0]?.seq;
    },
    async pruneBelow(anchorSeq, record) {
      // The one delete path (SECURITY DEFINER, gate-checked, never below the owner's retention
      // floor): the runtime role has no DELETE. The step's audit.pruned row is appended in the
      // same transaction, under the chain's lock that appends take, so no committed step leaves
      // a log that starts without the record of its removal.
      try {
        return await db.transaction(async (tx) => {
          await lockAuditChain(tx);
          const first = (await tx.query<{ seq: number }>('SELECT seq FROM audit_events ORDER BY seq LIMIT 1')).rows[0];
          if (!first || Number(first.seq) >= anchorSeq) return 0; // another replica pruned past it
          const fromSeq = Number(first.seq);
          // Up to 10,000 rows per step (audit/retention.ts), each checked by the gate: may be long.
          const { rows } = await tx.query<{ deleted: number }>({ text: 'SELECT creddy_audit_prune($1) AS deleted', long: true }, [
            anchorSeq,
          ]);
          const deleted = Number(rows[0]?.deleted ?? 0);
          try {
            await appendInTx(tx, [{ event: record.event({ fromSeq, anchorSeq, deleted }) }], record.seal);
          } catch (err) {
            throw new PruneRecordRejected('audit append failed', { cause: err });
          }
          return deleted;
        });
      } catch (err) {
        if (err instanceof PruneRecordRejected) throw pruneRecordRefused(err.cause);
        throw retentionRefusal(err);
      }
    },
    async recordPrunedStart(startSeq, record) {
      try {
        return await db.transaction(async (tx) => {
          // Decided again under the chain's lock that every append and prune step takes.
          await lockAuditChain(tx);
          const first = (await tx.query<{ seq: number }>('SELECT seq FROM audit_events ORDER BY seq LIMIT 1')).rows[0];
          if (!first || Number(first.seq) !== startSeq) return false; // pruned past, or emptied, since it was read
          const recorded = await tx.query<{ details: string | null }>("SELECT details FROM audit_events WHERE type = 'audit.pruned'");
          if (recorded.rows.some((row) => namesAnchor(row.details, startSeq))) return false; // recorded meanwhile
          try {
            await appendInTx(tx, [{ event: record.event }], record.seal);
          } catch (err) {
            throw new PruneRecordRejected('audit append failed', { cause: err });
          }
          return true;
        });
      } catch (err) {
        if (err instanceof PruneRecordRejected) throw pruneRecordRefused(err.cause);
        throw err;
      }
    },
  };
}
