import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { Store } from '../port.js';
import { appendStateAudit } from './audit-append.js';
import { type Db, lockAuditChain } from './db.js';

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

/**
 * `store.credentials.revoke`: the guarded UPDATE and its audit rows in one transaction. The audit
 * chain's lock is taken first, as by every append, and the guard (`revoked_at IS NULL`) is read
 * under it: of replicas revoking one credential at once, one updates and appends, the others
 * find it revoked and append nothing.
 */
export function postgresRevokeCredential(db: Db): Store['credentials']['revoke'] {
  return async (jti, at, options = {}) => {
    const { audit } = options;
    try {
      return await db.transaction(async (tx) => {
        if (audit) await lockAuditChain(tx);
        // Without a lease the row keeps the one it has (a reaper's claim stays a claim).
        const updated = await tx.query(
          'UPDATE credentials SET revoked_at = $1, reap_lease_until = COALESCE($2, reap_lease_until) WHERE jti = $3 AND revoked_at IS NULL',
          [at, options.leaseUntil ?? null, jti],
        );
        if (updated.rowCount !== 1) return false;
        if (audit) await appendStateAudit(tx, audit);
        return true;
      });
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
