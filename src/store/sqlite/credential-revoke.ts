import type Database from 'better-sqlite3';
import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { KeyAudit, Store } from '../port.js';
import { appendStateAudit, createAppendTransaction } from './audit-append.js';

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

/**
 * `store.credentials.revoke`: the guarded UPDATE and its audit rows in one immediate transaction,
 * so the guard (`revoked_at IS NULL`) is read under the write lock: of processes revoking one
 * credential at once, one updates and appends, the others find it revoked and append nothing.
 * Its own file because the append transaction imports `credentials.ts`.
 */
export function sqliteRevokeCredential(db: Database.Database): Store['credentials']['revoke'] {
  // Without a lease the row keeps the one it has (a reaper's claim stays a claim).
  const update = db.prepare(
    'UPDATE credentials SET revoked_at = ?, reap_lease_until = COALESCE(?, reap_lease_until) WHERE jti = ? AND revoked_at IS NULL',
  );
  // Nested in revoke (a savepoint): the audit rows commit or roll back with the update.
  const appendAll = createAppendTransaction(db);
  const revoke = db.transaction((jti: string, at: number, leaseUntil: number | null, audit: KeyAudit | undefined): boolean => {
    if (update.run(at, leaseUntil, jti).changes !== 1) return false;
    if (audit) appendStateAudit(appendAll, audit);
    return true;
  });
  return async (jti, at, options = {}) => {
    try {
      return revoke.immediate(jti, at, options.leaseUntil ?? null, options.audit);
    } catch (err) {
      if (err instanceof AuditRejected) {
        throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the row of this revocation; nothing was revoked', {
          cause: err.cause,
        });
      }
      throw err;
    }
  };
}
