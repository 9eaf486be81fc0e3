import type { Store } from '../port.js';
import { type CredentialRow, toCredential } from '../rows.js';
import { postgresRevokeCredential } from './credential-revoke.js';
import type { Db } from './db.js';

export function postgresCredentials(db: Db): Store['credentials'] {
  return {
    async get(jti) {
      const { rows } = await db.query<CredentialRow>({ name: 'credential-get', text: 'SELECT * FROM credentials WHERE jti = $1' }, [jti]);
      return rows[0] && toCredential(rows[0]);
    },
    async listActive(agent, now) {
      const { rows } = await db.query<CredentialRow>(
        {
          name: 'credential-active',
          text: 'SELECT * FROM credentials WHERE agent = $1 AND expires_at > $2 AND revoked_at IS NULL ORDER BY issued_at DESC, jti DESC LIMIT 1000',
        },
        [agent, now],
      );
      return rows.map(toCredential);
    },
    revoke: postgresRevokeCredential(db),
    async claimDueForDownstreamRevocation(now, limit, leaseUntil) {
      // SKIP LOCKED: replicas claiming at once split the due rows instead of queueing on them; a
      // row leased by a replica that died comes back once its lease has run out.
      const { rows } = await db.query<CredentialRow>(
        `UPDATE credentials SET reap_lease_until = $3 WHERE jti IN (
           SELECT jti FROM credentials
            WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL
              AND (expires_at <= $1 OR revoked_at IS NOT NULL)
              AND (reap_lease_until IS NULL OR reap_lease_until <= $1)
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [now, limit, leaseUntil],
      );
      return rows.map(toCredential).sort((a, b) => a.expiresAt - b.expiresAt || (a.jti < b.jti ? -1 : 1));
    },
    async withRevocationHandles(afterJti, limit) {
      const { rows } = await db.query<CredentialRow>(
        `SELECT * FROM credentials WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL
            AND jti COLLATE "C" > $1 ORDER BY jti COLLATE "C" LIMIT $2`, // byte order, as the caller pages by it
        [afterJti, limit],
      );
      return rows.map(toCredential);
    },
    async replaceRevocationHandle(jti, previous, next) {
      const result = await db.query('UPDATE credentials SET revocation_handle = $1 WHERE jti = $2 AND revocation_handle = $3', [
        Buffer.from(next),
        jti,
        Buffer.from(previous),
      ]);
      return result.rowCount === 1;
    },
    async markDownstreamRevoked(jti, at) {
      // The handle is useless after revocation; dropping it keeps no sealed secret longer than needed.
      await db.query('UPDATE credentials SET downstream_revoked_at = $1, revocation_handle = NULL WHERE jti = $2', [at, jti]);
    },
  };
}
