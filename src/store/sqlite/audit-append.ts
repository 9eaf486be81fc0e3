import type Database from 'better-sqlite3';
import { type AuditRow, GENESIS_HASH } from '../../model/audit.js';
import { AuditRejected, auditEntries } from '../audit-rejected.js';
import { grantsText, HOLDER_COLUMNS_SQL, HOLDER_DIFFERS_SQL, HOLDER_JOIN_SQL, type HolderRow, holderChange } from '../holder-change.js';
import type { AppendedRows, AuditEntry, AuditSealer, HolderChange, KeyAudit, StateChange } from '../port.js';
import { agentKeyWrites } from './agent-keys.js';
import { credentialParams, INSERT_CREDENTIAL_SQL } from './credentials.js';

type Seal = (row: Omit<AuditRow, 'hash' | 'keyId'>) => { hash: string; keyId: string };

/**
 * The append transaction: run it with `.immediate()`. The chain head is read under the write
 * lock, so a server and a CLI appending at once still produce one linear chain; credential rows
 * and state changes (agent create/update/revoke, agent keys) are written in the same transaction
 * as the event that records them.
 */
export function createAppendTransaction(
  db: Database.Database,
): Database.Transaction<(entries: readonly AuditEntry[], seal: AuditSealer | Seal) => AppendedRows> {
  const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare(
    `INSERT INTO audit_events (seq, time, type, outcome, actor, agent, backend, scopes, jti, kid, reason, client_ip, request_id, details, prev_hash, hash, key_id)
     VALUES (@seq, @time, @type, @outcome, @actor, @agent, @backend, @scopes, @jti, @kid, @reason, @clientIp, @requestId, @details, @prevHash, @hash, @keyId)`,
  );
  const insertCredential = db.prepare(INSERT_CREDENTIAL_SQL);
  // An issuance's holder (the agent record it was judged by, and the agent key a key-pair request
  // authenticated with) against the record and keys now, read under the write lock, which every
  // agent change takes too (revocation: agent-revoke.ts; token rotation, grants and keys: the
  // `agent.*` changes below): either the change committed before this transaction began, and this
  // read sees it, or it commits after this one, and this credential was issued before it (the scan
  // of a revocation, a grant's or a key's removal sees this row). One statement per credential
  // (two primary-key lookups), in process (on the audit worker's thread in a server): no round
  // trip; a row comes back only when the record differs (almost never).
  const holderRow = db.prepare<{ id: string; tokenHash: string; grants: string; jkt: string | null }, HolderRow>(
    `SELECT ${HOLDER_COLUMNS_SQL} FROM (SELECT @id AS id, @tokenHash AS token_hash, @grants AS grants, @jkt AS jkt) AS e
     ${HOLDER_JOIN_SQL} WHERE ${HOLDER_DIFFERS_SQL}`,
  );
  const changes = {
    'agent.create': db.prepare(
      'INSERT OR IGNORE INTO agents (id, name, token_hash, grants, created_at, expires_at, revoked_at, require_dpop) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)',
    ),
    'agent.update': db.prepare('UPDATE agents SET token_hash = ?, grants = ?, expires_at = ? WHERE id = ? AND revoked_at IS NULL'),
    'agent.revoke': db.prepare('UPDATE agents SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL'),
  };
  const agentKeys = agentKeyWrites(db);
  const apply = (change: StateChange): void => {
    switch (change.kind) {
      case 'agent.create': {
        const a = change.agent;
        const inserted = changes[change.kind].run(
          a.id,
          a.name,
          a.tokenHash,
          grantsText(a.grants),
          a.createdAt,
          a.expiresAt,
          a.requireDpop ? 1 : 0,
        );
        if (inserted.changes === 1) agentKeys.replace(a.name, change.keys ?? []);
        return;
      }
      case 'agent.update':
        changes[change.kind].run(change.tokenHash, grantsText(change.grants), change.expiresAt, change.id);
        return;
      case 'agent.key.add':
      case 'agent.key.remove':
        agentKeys.apply(change);
        return;
      case 'agent.revoke':
        changes[change.kind].run(change.at, change.name);
    }
  };
  return db.transaction((entries: readonly AuditEntry[], seal: AuditSealer | Seal): AppendedRows => {
    const head = last.get();
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const rows: AppendedRows = [];
    const changed: Array<HolderChange & { entry: number }> = [];
    for (const { event, credential, change, holder } of entries) {
      if (credential) insertCredential.run(credentialParams(credential));
      if (holder !== undefined) {
        const differs = holderRow.get({
          id: holder.id,
          tokenHash: holder.tokenHash,
          grants: grantsText(holder.grants),
          jkt: holder.jkt ?? null,
        });
        if (differs) changed.push({ entry: rows.length, ...holderChange(differs) });
      }
      if (change) apply(change);
      seq += 1;
      const draft = { ...event, seq, prevHash };
      const row: AuditRow = { ...draft, ...seal(draft) };
      insert.run({
        ...row,
        scopes: row.scopes === null ? null : JSON.stringify(row.scopes),
        details: row.details === null ? null : JSON.stringify(row.details),
      });
      rows.push(row);
      prevHash = row.hash;
    }
    if (changed.length > 0) rows.holderChanged = changed;
    return rows;
  });
}

/**
 * Appends a state change's audit rows with `append` (createAppendTransaction, nested in the
 * caller's transaction as a savepoint); a failure is an AuditRejected, so the caller's transaction
 * rolls back and it says which change was not made.
 */
export function appendStateAudit(append: ReturnType<typeof createAppendTransaction>, audit: KeyAudit): void {
  if (audit.events.length === 0) return;
  try {
    append(auditEntries(audit), audit.seal);
  } catch (err) {
    throw new AuditRejected('audit append failed', { cause: err });
  }
}
