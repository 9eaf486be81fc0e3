import type pg from 'pg';
import { CreddyError } from '../../errors.js';

/**
 * What the server's runtime role may do, table by table; the schema owner (who migrates) keeps
 * everything else. The audit tables take INSERT and SELECT only: no UPDATE, DELETE or TRUNCATE,
 * so even a stolen runtime password cannot rewrite history; retention deletes go through
 * `creddy_audit_prune` (SECURITY DEFINER, gate-checked, never of rows younger than the owner's
 * retention floor) and a KEK rewrap updates only the sealed columns of the audit signing key. The
 * triggers guard the same rules for the owner.
 */
export const RUNTIME_GRANTS: ReadonlyArray<readonly [privileges: string, objects: string]> = [
  ['SELECT', 'TABLE schema_migrations'],
  ['SELECT, INSERT, UPDATE', 'TABLE agents, signing_keys, credentials'],
  ['SELECT, INSERT', 'TABLE audit_events, audit_checkpoints, audit_signing_keys'],
  ['UPDATE (sealed_private, kek_id)', 'TABLE audit_signing_keys'],
  ['SELECT', 'TABLE audit_prune_gate'],
  ['SELECT, INSERT, DELETE', 'TABLE federation_replay'],
  // Key-pair agents' public keys: added and removed (rotation), never edited in place.
  ['SELECT, INSERT, DELETE', 'TABLE agent_keys'],
  // No DELETE: a deleted secret is a tombstone, and an erased value an UPDATE to NULL.
  ['SELECT, INSERT, UPDATE', 'TABLE secret_versions'],
  ['EXECUTE', 'FUNCTION creddy_audit_prune(BIGINT)'],
];

// audit_retention_floor is revoked and never granted: only the owner sets or reads it (the prune
// function reads it as its owner), so a leaked runtime password cannot lower it.
const TABLES =
  'schema_migrations, agents, signing_keys, credentials, audit_events, audit_checkpoints, audit_signing_keys, audit_prune_gate, audit_retention_floor, federation_replay, secret_versions, agent_keys';

/** The GRANT statements for `role` (already quoted), as run by `creddy store migrate --runtime-role`. */
export function runtimeGrantSql(role: string, schema: string): string[] {
  return [
    `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
    // Start from nothing, so a role that was once given more ends with exactly this.
    `REVOKE ALL ON ${TABLES} FROM ${role}`,
    ...RUNTIME_GRANTS.map(([privileges, objects]) => `GRANT ${privileges} ON ${objects} TO ${role}`),
  ];
}

/** Grants the runtime role its privileges (idempotent; run after every migration). */
export async function grantRuntimeRole(client: pg.ClientBase, role: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount !== 1)
    throw new CreddyError('ERR_CONFIG_INVALID', `no PostgreSQL role named "${role}"; create it first (docs/deploy.md)`);
  const owner = await client.query<{ owner: boolean }>(
    "SELECT pg_get_userbyid(relowner) = $1 AS owner FROM pg_class WHERE oid = to_regclass('audit_events')",
    [role],
  );
  if (owner.rows[0]?.owner) {
    throw new CreddyError(
      'ERR_CONFIG_INVALID',
      `"${role}" owns the schema: the runtime role must be another role (an owner can disable the audit triggers)`,
    );
  }
  const schema = (await client.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
  await client.query('BEGIN');
  try {
    for (const sql of runtimeGrantSql(client.escapeIdentifier(role), client.escapeIdentifier(schema))) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}
