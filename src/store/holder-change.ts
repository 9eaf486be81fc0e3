import type { Grant } from '../model/agent.js';
import type { HolderChange } from './port.js';

/** An agent's grants as both stores write them (`agents.grants`), so a commit compares text. */
export const grantsText = (grants: readonly Grant[]): string => JSON.stringify(grants);

/**
 * How both stores' holder check finds, for a stamp `e` (`AuditEntry.holder`: id, token_hash,
 * grants as `grantsText`, jkt or NULL), the agent record `a` it names and, for a key-pair
 * issuance, the key `k` it authenticated with, still registered to that agent. Two primary-key
 * lookups (`agents.id`, `agent_keys.jkt`): on PostgreSQL inside the statement that reads the
 * audit head anyway, on SQLite one indexed read per entry on the audit worker; for a bearer stamp
 * (jkt NULL) the key join matches nothing.
 *
 * Against what: PostgreSQL compares a batch's holders with the records as they stood before the
 * batch's own changes, SQLite entry by entry. The two agree because no batch carries both: agent
 * changes come only from operator commands (the CLI's own writer), issuances only from servers.
 */
export const HOLDER_JOIN_SQL = 'LEFT JOIN agents AS a ON a.id = e.id LEFT JOIN agent_keys AS k ON k.jkt = e.jkt AND k.agent = a.name';

/**
 * The condition, in both stores' SQL (over {@link HOLDER_JOIN_SQL}), under which an agent row `a`
 * is no longer the record an issuance was judged by, `e`: gone, revoked, another token, other
 * grants, or the key it authenticated with no longer registered to it (removed). An expiry
 * renewed is no difference: the request authenticated while the agent was active. Grants are
 * compared as stored text, so text that differs only in its writing is reported too; the caller's
 * policy then finds the request still covered: a false difference costs a coverage check, never a
 * credential. `IS DISTINCT FROM`, not `<>`: a NULL on either side is a difference, never a match
 * (both columns are NOT NULL today; a stamp missing a field must not pass for unchanged).
 */
export const HOLDER_DIFFERS_SQL =
  'a.id IS NULL OR a.revoked_at IS NOT NULL OR a.token_hash IS DISTINCT FROM e.token_hash OR a.grants IS DISTINCT FROM e.grants OR (e.jkt IS NOT NULL AND k.jkt IS NULL)';

/** The columns the holder check selects for a differing row (`a` the agent row, `k` its key, `e` the stamp). */
export const HOLDER_COLUMNS_SQL =
  '(a.id IS NULL OR a.revoked_at IS NOT NULL) AS revoked, (a.id IS NOT NULL AND a.token_hash IS DISTINCT FROM e.token_hash) AS token_rotated, (e.jkt IS NOT NULL AND k.jkt IS NULL) AS key_removed, a.grants AS grants';

/** A differing row as the holder check selects it (SQLite answers 0/1 for booleans). */
export interface HolderRow {
  readonly revoked: boolean | number;
  readonly token_rotated: boolean | number;
  readonly key_removed: boolean | number;
  /** As stored (JSON text); null when the record is gone. */
  readonly grants: string | null;
}

/** What the caller is told of a differing row. */
export function holderChange(row: HolderRow): HolderChange {
  return {
    revoked: Boolean(row.revoked),
    tokenRotated: Boolean(row.token_rotated),
    keyRemoved: Boolean(row.key_removed),
    grants: row.grants === null ? [] : (JSON.parse(row.grants) as Grant[]),
  };
}
