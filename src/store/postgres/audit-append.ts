import { type AuditRow, GENESIS_HASH } from '../../model/audit.js';
import { AuditRejected, auditEntries } from '../audit-rejected.js';
import type { AppendedRows, AuditEntry, AuditSealer, KeyAudit, StateChange } from '../port.js';
import { AUDIT_COLUMNS, auditValues, CREDENTIAL_COLUMNS, credentialValues, insertMany } from '../rows.js';
import { applyAgentKeyChange, replaceAgentKeys } from './agent-keys.js';
import { lockAuditChain, type Tx } from './db.js';

/** Rows per INSERT statement: PostgreSQL takes at most 65,535 parameters (17 per audit row). */
const CHUNK = 1000;

const chunks = <T>(items: readonly T[]): T[][] =>
  Array.from({ length: Math.ceil(items.length / CHUNK) }, (_, i) => items.slice(i * CHUNK, (i + 1) * CHUNK));

async function apply(tx: Tx, change: StateChange): Promise<void> {
  // Guarded, never throwing on a lost precondition: one failing entry would abort the whole batch.
  switch (change.kind) {
    case 'agent.create': {
      const a = change.agent;
      // Skipped on any unique conflict (a live agent of that name, a token digest in use): the
      // caller checks the row afterwards, as on SQLite.
      const inserted = await tx.query(
        'INSERT INTO agents (id, name, token_hash, grants, created_at, expires_at, revoked_at, require_dpop) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) ON CONFLICT DO NOTHING',
        [a.id, a.name, a.tokenHash, JSON.stringify(a.grants), a.createdAt, a.expiresAt, a.requireDpop === true],
      );
      if (inserted.rowCount === 1) await replaceAgentKeys(tx, a.name, change.keys ?? []);
      return;
    }
    case 'agent.update':
      await tx.query('UPDATE agents SET token_hash = $1, grants = $2, expires_at = $3 WHERE id = $4 AND revoked_at IS NULL', [
        change.tokenHash,
        JSON.stringify(change.grants),
        change.expiresAt,
        change.id,
      ]);
      return;
    case 'agent.key.add':
    case 'agent.key.remove':
      await applyAgentKeyChange(tx, change);
      return;
    case 'agent.revoke':
      await tx.query('UPDATE agents SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [change.at, change.name]);
  }
}

/**
 * Appends `entries` inside the caller's transaction: takes the audit chain's advisory lock, reads
 * the head under it, writes credential rows and state changes, then the chained rows. Every
 * replica appends this way, so the log stays one linear chain; the lock is held until the
 * caller's COMMIT, which makes the whole batch durable at once (group commit).
 */
export async function appendInTx(tx: Tx, entries: readonly AuditEntry[], seal: AuditSealer): Promise<AppendedRows> {
  await lockAuditChain(tx);
  const holders = entries.flatMap((e) => (e.holder === undefined ? [] : [e.holder]));
  // The holders' revocation is read in the same statement as the head, under the chain's lock,
  // which every agent revocation takes too (agent-revoke.ts): either the revocation committed
  // before this statement's snapshot, and it is seen here, or it commits after this transaction,
  // and its scan of the agent's credentials sees these rows. No round trip of its own: the head
  // is read anyway.
  const head = (
    await tx.query<{ seq: number | null; hash: string | null; revoked: string[] }>(
      {
        name: 'audit-head-holders',
        text: `SELECT h.seq, h.hash, ARRAY(SELECT id FROM agents WHERE id = ANY($1::text[]) AND revoked_at IS NOT NULL) AS revoked
               FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS h ON true`,
      },
      [holders],
    )
  ).rows[0]!;
  const credentials = entries.flatMap((e) => (e.credential ? [credentialValues(e.credential)] : []));
  for (const chunk of chunks(credentials)) {
    const { text, values } = insertMany('credentials', CREDENTIAL_COLUMNS, chunk);
    await tx.query(text, values);
  }
  // Changes in entry order; none depends on a credential row of a later entry.
  for (const { change } of entries) if (change) await apply(tx, change);

  let seq = head.seq ?? 0;
  let prevHash = head.hash ?? GENESIS_HASH;
  const rows: AppendedRows = entries.map(({ event }) => {
    seq += 1;
    const draft = { ...event, seq, prevHash };
    const row: AuditRow = { ...draft, ...seal(draft) };
    prevHash = row.hash;
    return row;
  });
  for (const chunk of chunks(rows)) {
    const { text, values } = insertMany('audit_events', AUDIT_COLUMNS, chunk.map(auditValues));
    await tx.query(text, values);
  }
  if (head.revoked.length > 0) {
    const revoked = new Set(head.revoked);
    rows.holderRevoked = entries.flatMap((e, i) => (e.holder !== undefined && revoked.has(e.holder) ? [i] : []));
  }
  return rows;
}

/**
 * Appends a state change's audit rows inside its transaction (see appendInTx); a failure is an
 * AuditRejected, so the caller rolls back and says which change was not made.
 */
export async function appendStateAudit(tx: Tx, audit: KeyAudit): Promise<void> {
  if (audit.events.length === 0) return;
  try {
    await appendInTx(tx, auditEntries(audit), audit.seal);
  } catch (err) {
    throw new AuditRejected('audit append failed', { cause: err });
  }
}
