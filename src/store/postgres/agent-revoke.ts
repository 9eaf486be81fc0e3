import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { Store } from '../port.js';
import { appendStateAudit } from './audit-append.js';
import { type Db, lockAuditChain } from './db.js';

/**
 * `store.agents.revoke`: the guarded UPDATE of one agent record and its audit rows in one
 * transaction. The audit chain's lock is taken first, as by every append, and the guard
 * (`revoked_at IS NULL`) is read under it: of replicas (or CLIs) revoking one agent at once, one
 * updates and appends `agent.revoked`, the others find it revoked and append nothing. Taking the
 * chain's lock also orders the revocation against every issuance's commit, which is what the
 * in-flight check of `audit-append.ts` (`holder`) relies on.
 */
export function postgresRevokeAgent(db: Db): Store['agents']['revoke'] {
  return async (id, at, audit) => {
    try {
      return await db.transaction(async (tx) => {
        await lockAuditChain(tx);
        const updated = await tx.query('UPDATE agents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
        if (updated.rowCount !== 1) return false;
        await appendStateAudit(tx, audit);
        return true;
      });
    } catch (err) {
      if (err instanceof AuditRejected) {
        throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the row of this revocation; the agent was not revoked', {
          cause: err.cause,
        });
      }
      throw err;
    }
  };
}
