import type pg from 'pg';
import { CreddyError } from '../../errors.js';

/** The schema version that has `audit_retention_floor` (schema-v7.ts). */
const FLOOR_SINCE_VERSION = 7;

/**
 * Sets the audit retention floor (seconds; null: no audit row may be deleted), as the schema
 * owner: the runtime role has no privilege on the table, so a leaked runtime password cannot lower
 * it. Returns what is now in force, or undefined on a schema older than v7 (an upgrade test that
 * stops early), which has no floor.
 */
export async function setRetentionFloor(
  client: pg.ClientBase,
  seconds: number | null,
  version: number,
): Promise<number | null | undefined> {
  if (version < FLOOR_SINCE_VERSION) return undefined;
  const { rows } = await client.query<{ s: string | null }>(
    'UPDATE audit_retention_floor SET min_age_seconds = $1 WHERE id = 1 RETURNING min_age_seconds AS s',
    [seconds],
  );
  if (rows.length !== 1) throw new CreddyError('ERR_NOT_READY', 'audit_retention_floor has no row: the schema was changed by hand');
  return rows[0]!.s === null ? null : Number(rows[0]!.s);
}

/**
 * The prune function's refusals (schema-v7.ts raises them with creddy's own SQLSTATEs) as
 * ERR_CONFIG_INVALID naming the fix; any other error unchanged.
 */
export function retentionRefusal(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'CRD01' && code !== 'CRD02') return err;
  const fix =
    code === 'CRD01'
      ? 'set audit.retention in the config and run `creddy store migrate` with it as the schema owner'
      : "keep this process's audit.retention at least the floor, or run `creddy store migrate` as the schema owner with the shorter one";
  return new CreddyError('ERR_CONFIG_INVALID', `${(err as Error).message}: ${fix}`, { cause: err });
}
