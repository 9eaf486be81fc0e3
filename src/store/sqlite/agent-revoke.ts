import type Database from 'better-sqlite3';
import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { KeyAudit, Store } from '../port.js';
import { appendStateAudit, createAppendTransaction } from './audit-append.js';

/**
 * `store.agents.revoke`: the guarded UPDATE of one agent record and its audit rows in one
 * immediate transaction, so the guard (`revoked_at IS NULL`) is read under the write lock: of
 * processes revoking one agent at once (two `creddy agent revoke`, servers sharing the file), one
 * updates and appends `agent.revoked`, the others find it revoked and append nothing. Its own
 * file because the append transaction imports `credentials.ts` (as credential-revoke.ts).
 */
export function sqliteRevokeAgent(db: Database.Database): Store['agents']['revoke'] {
  const update = db.prepare('UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  // Nested in revoke (a savepoint): the audit rows commit or roll back with the update.
  const appendAll = createAppendTransaction(db);
  const revoke = db.transaction((id: string, at: number, audit: KeyAudit): boolean => {
    if (update.run(at, id).changes !== 1) return false;
    appendStateAudit(appendAll, audit);
    return true;
  });
  return async (id, at, audit) => {
    try {
      return revoke.immediate(id, at, audit);
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
