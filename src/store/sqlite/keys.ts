import type Database from 'better-sqlite3';
import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { KeyAudit, KeyOp, Store } from '../port.js';
import { type KeyRow, toKey } from '../rows.js';
import { appendStateAudit, createAppendTransaction } from './audit-append.js';
import { storeError } from './errors.js';

const COLUMNS = {
  state: 'state',
  activatedAt: 'activated_at',
  retiredAt: 'retired_at',
  revokedAt: 'revoked_at',
  sealedPrivate: 'sealed_private',
  kekId: 'kek_id',
} as const;

/** Thrown inside the transaction to roll it back when a guard fails. */
class GuardFailed extends Error {}

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

export function sqliteKeys(db: Database.Database): Store['keys'] {
  const list = db.prepare<[], KeyRow>('SELECT * FROM signing_keys ORDER BY created_at, kid');
  const insert = db.prepare(
    `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at, revoked_at)
     VALUES (@kid, @state, @publicX, @sealedPrivate, @kekId, @createdAt, @publishedAt, @activatedAt, @retiredAt, @revokedAt)`,
  );
  const usage = db.prepare<[string], { count: number; last_exp: number | null }>(
    'SELECT count(*) AS count, max(expires_at) AS last_exp FROM credentials WHERE kid = ?',
  );

  // Nested in applyAll (a savepoint): the audit rows commit or roll back with the key ops.
  const appendAll = createAppendTransaction(db);

  // BEGIN IMMEDIATE: take the write lock before reading guards, so two rotators serialise.
  const applyAll = db.transaction((ops: readonly KeyOp[], audit: KeyAudit) => {
    for (const op of ops) {
      if (op.op === 'insert') {
        insert.run({ ...op.key, sealedPrivate: Buffer.from(op.key.sealedPrivate) });
        continue;
      }
      const entries = Object.entries(op.set).map(([field, value]) => [COLUMNS[field as keyof typeof COLUMNS], value] as const);
      const sets = entries.map(([column]) => `${column} = ?`).join(', ');
      const values = entries.map(([, value]) => (value instanceof Uint8Array ? Buffer.from(value) : value));
      const result = db.prepare(`UPDATE signing_keys SET ${sets} WHERE kid = ? AND state = ?`).run(...values, op.kid, op.expect);
      if (result.changes !== 1) throw new GuardFailed();
    }
    appendStateAudit(appendAll, audit);
  });

  return {
    async list() {
      return list.all().map(toKey);
    },
    async apply(ops, audit) {
      try {
        applyAll.immediate(ops, audit);
        return true;
      } catch (err) {
        // A lost race shows up as a failed guard or a unique-index violation (two `current`);
        // the audit rows' own failures are wrapped first, so a trigger rejecting a row is not
        // mistaken for one (and retried as such).
        if (err instanceof GuardFailed || (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
        if (err instanceof AuditRejected) {
          throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the rows of this key transition; nothing was changed', {
            cause: err.cause,
          });
        }
        throw storeError(err);
      }
    },
    async usage(kids) {
      // One indexed lookup per kid (credentials_kid); there are only ever a handful of keys.
      return new Map(
        kids.map((kid) => {
          const row = usage.get(kid);
          return [kid, { count: row?.count ?? 0, lastExp: row?.last_exp ?? 0 }] as const;
        }),
      );
    },
  };
}
