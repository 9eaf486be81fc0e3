import type Database from 'better-sqlite3';
import type { CredentialRecord } from '../../model/credential.js';
import type { Store } from '../port.js';
import { type CredentialRow, toCredential } from '../rows.js';

/** Parameters for the INSERT used by the audit append (credential rows commit with their event). */
export function credentialParams(c: CredentialRecord): Record<string, unknown> {
  return {
    jti: c.jti,
    agent: c.agent,
    backend: c.backend,
    scopes: JSON.stringify(c.scopes),
    kid: c.kid,
    issued_at: c.issuedAt,
    expires_at: c.expiresAt,
    revoked_at: c.revokedAt,
    metadata: c.metadata === null ? null : JSON.stringify(c.metadata),
    downstream: c.downstream === null ? null : JSON.stringify(c.downstream),
    revocation_handle: c.revocationHandle === null ? null : Buffer.from(c.revocationHandle),
    downstream_revoked_at: c.downstreamRevokedAt,
  };
}

export const INSERT_CREDENTIAL_SQL = `INSERT INTO credentials
  (jti, agent, backend, scopes, kid, issued_at, expires_at, revoked_at, metadata, downstream, revocation_handle, downstream_revoked_at)
  VALUES (@jti, @agent, @backend, @scopes, @kid, @issued_at, @expires_at, @revoked_at, @metadata, @downstream, @revocation_handle, @downstream_revoked_at)`;

/** Every credential method but `revoke`, which appends audit rows (credential-revoke.ts). */
export function sqliteCredentials(db: Database.Database): Omit<Store['credentials'], 'revoke'> {
  const get = db.prepare<[string], CredentialRow>('SELECT * FROM credentials WHERE jti = ?');
  const active = db.prepare<[string, number], CredentialRow>(
    'SELECT * FROM credentials WHERE agent = ? AND expires_at > ? AND revoked_at IS NULL ORDER BY issued_at DESC, jti DESC LIMIT 1000',
  );
  const due = db.prepare<{ now: number; limit: number }, CredentialRow>(
    `SELECT * FROM credentials WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL
       AND (expires_at <= @now OR revoked_at IS NOT NULL) AND (reap_lease_until IS NULL OR reap_lease_until <= @now)
       ORDER BY expires_at LIMIT @limit`,
  );
  const lease = db.prepare('UPDATE credentials SET reap_lease_until = ? WHERE jti = ?');
  // One write transaction: another process claiming at once waits for the lock, then sees the leases.
  const claim = db.transaction((now: number, limit: number, leaseUntil: number) => {
    const rows = due.all({ now, limit });
    for (const row of rows) lease.run(leaseUntil, row.jti);
    return rows;
  });
  const withHandles = db.prepare<[string, number], CredentialRow>(
    `SELECT * FROM credentials WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL AND jti > ? ORDER BY jti LIMIT ?`,
  );
  const replaceHandle = db.prepare('UPDATE credentials SET revocation_handle = ? WHERE jti = ? AND revocation_handle = ?');
  const markDone = db.prepare('UPDATE credentials SET downstream_revoked_at = ?, revocation_handle = NULL WHERE jti = ?');
  return {
    async get(jti) {
      const row = get.get(jti);
      return row && toCredential(row);
    },
    async listActive(agent, now) {
      return active.all(agent, now).map(toCredential);
    },
    async claimDueForDownstreamRevocation(now, limit, leaseUntil) {
      return claim.immediate(now, limit, leaseUntil).map(toCredential);
    },
    async withRevocationHandles(afterJti, limit) {
      return withHandles.all(afterJti, limit).map(toCredential);
    },
    async replaceRevocationHandle(jti, previous, next) {
      return replaceHandle.run(Buffer.from(next), jti, Buffer.from(previous)).changes === 1;
    },
    async markDownstreamRevoked(jti, at) {
      // The handle is useless after revocation; dropping it keeps no sealed secret longer than needed.
      markDone.run(at, jti);
    },
  };
}
