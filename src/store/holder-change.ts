import type { Grant } from '../model/agent.js';
import type { HolderChange } from './port.js';

/** An agent's grants as both stores write them (`agents.grants`), so a commit compares text. */
export const grantsText = (grants: readonly Grant[]): string => JSON.stringify(grants);

/**
 * The condition, in both stores' SQL, under which an agent row `a` is no longer the record an
 * issuance was judged by, `e` (`AuditEntry.holder`: id, token_hash, grants as `grantsText`): gone,
 * revoked, another token, other grants. An expiry renewed is no difference: the request
 * authenticated while the agent was active. Grants are compared as stored text, so text that
 * differs only in its writing is reported too; the caller's policy then finds the request still
 * covered: a false difference costs a coverage check, never a credential.
 */
export const HOLDER_DIFFERS_SQL = 'a.id IS NULL OR a.revoked_at IS NOT NULL OR a.token_hash <> e.token_hash OR a.grants <> e.grants';

/** The columns the holder check selects for a differing row (`a` the agent row, `e` the stamp). */
export const HOLDER_COLUMNS_SQL =
  '(a.id IS NULL OR a.revoked_at IS NOT NULL) AS revoked, (a.id IS NOT NULL AND a.token_hash <> e.token_hash) AS token_rotated, a.grants AS grants';

/** A differing row as the holder check selects it (SQLite answers 0/1 for booleans). */
export interface HolderRow {
  readonly revoked: boolean | number;
  readonly token_rotated: boolean | number;
  /** As stored (JSON text); null when the record is gone. */
  readonly grants: string | null;
}

/** What the caller is told of a differing row. */
export function holderChange(row: HolderRow): HolderChange {
  return {
    revoked: Boolean(row.revoked),
    tokenRotated: Boolean(row.token_rotated),
    grants: row.grants === null ? [] : (JSON.parse(row.grants) as Grant[]),
  };
}
