import { type AuditRow, GENESIS_HASH } from '../../model/audit.js';
import { AuditRejected, auditEntries } from '../audit-rejected.js';
import { grantsText, HOLDER_COLUMNS_SQL, HOLDER_DIFFERS_SQL, HOLDER_JOIN_SQL, type HolderRow, holderChange } from '../holder-change.js';
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
        [a.id, a.name, a.tokenHash, grantsText(a.grants), a.createdAt, a.expiresAt, a.requireDpop === true],
      );
      if (inserted.rowCount === 1) await replaceAgentKeys(tx, a.name, change.keys ?? []);
      return;
    }
    case 'agent.update':
      await tx.query('UPDATE agents SET token_hash = $1, grants = $2, expires_at = $3 WHERE id = $4 AND revoked_at IS NULL', [
        change.tokenHash,
        grantsText(change.grants),
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
  // The entries' holders, as parallel arrays: the entry's index, the record it was judged by, the
  // agent key a key-pair request authenticated with (null for a bearer one).
  const holders = {
    entry: [] as number[],
    id: [] as string[],
    tokenHash: [] as string[],
    grants: [] as string[],
    jkt: [] as Array<string | null>,
  };
  entries.forEach(({ holder }, i) => {
    if (holder === undefined) return;
    holders.entry.push(i);
    holders.id.push(holder.id);
    holders.tokenHash.push(holder.tokenHash);
    holders.grants.push(grantsText(holder.grants));
    holders.jkt.push(holder.jkt ?? null);
  });
  // The holders' records (and keys) are compared in the same statement as the head is read, under
  // the chain's lock, which every agent change takes too (revocation: agent-revoke.ts; token
  // rotation, grants and keys: the `agent.*` changes below): either the change committed before
  // this statement's snapshot, and it is seen here, or it commits after this transaction, and these
  // credentials were issued before it (a revocation's, a grant's or a key's removal's scan sees
  // these rows). No round trip of its own, the head being read anyway; only differing records come
  // back (almost never one).
  const head = (
    await tx.query<{ seq: number | null; hash: string | null; changed: Array<HolderRow & { entry: number }> | null }>(
      {
        name: 'audit-head-holders',
        text: `SELECT h.seq, h.hash,
                 (SELECT json_agg(json_build_object('entry', e.entry, 'revoked', d.revoked, 'token_rotated', d.token_rotated,
                                                    'key_removed', d.key_removed, 'grants', d.grants))
                    FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[]) AS e(entry, id, token_hash, grants, jkt)
                    ${HOLDER_JOIN_SQL}
                    CROSS JOIN LATERAL (SELECT ${HOLDER_COLUMNS_SQL}) AS d
                   WHERE ${HOLDER_DIFFERS_SQL}) AS changed
               FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS h ON true`,
      },
      [holders.entry, holders.id, holders.tokenHash, holders.grants, holders.jkt],
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
  if (head.changed) rows.holderChanged = head.changed.map((row) => ({ entry: row.entry, ...holderChange(row) }));
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
