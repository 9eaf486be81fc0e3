import { CreddyError } from '../../errors.js';
import type { SecretVersionRecord } from '../../model/secret.js';
import { AuditRejected } from '../audit-rejected.js';
import type { SecretSelector, SecretWrite, Store } from '../port.js';
import { type SecretRow, toSecretVersion } from '../rows.js';
import { appendStateAudit } from './audit-append.js';
import { type Db, lockAuditChain, type Tx } from './db.js';

/** Thrown inside the transaction to roll it back when a guard fails. */
class GuardFailed extends Error {}

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

/** Paths in `selector`: exact ones, and prefixes compared byte for byte (LIKE would treat `_` as a wildcard). */
function selectorSql(selector: SecretSelector, first: number): { where: string; values: unknown[] } {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${first + values.length - 1}`;
  };
  if (selector.paths.length > 0) clauses.push(`path = ANY(${param([...selector.paths])}::text[])`);
  for (const prefix of selector.prefixes) {
    const p = param(prefix);
    clauses.push(`substr(path, 1, length(${p}::text)) = ${p}::text`);
  }
  return { where: clauses.length > 0 ? `(${clauses.join(' OR ')})` : 'false', values };
}

async function latestOf(tx: Tx, path: string): Promise<SecretRow | undefined> {
  const { rows } = await tx.query<SecretRow>(
    { name: 'secret-latest-of', text: 'SELECT * FROM secret_versions WHERE path = $1 ORDER BY version DESC LIMIT 1' },
    [path],
  );
  return rows[0];
}

async function insert(tx: Tx, r: SecretVersionRecord): Promise<void> {
  await tx.query(
    {
      name: 'secret-insert',
      text: `INSERT INTO secret_versions (id, path, version, sealed, kek_id, created_at, created_by, generated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    },
    [r.id, r.path, r.version, r.sealed === null ? null : Buffer.from(r.sealed), r.kekId, r.createdAt, r.createdBy, r.generated ? 1 : 0],
  );
}

async function applyWrite(tx: Tx, write: SecretWrite): Promise<void> {
  switch (write.kind) {
    case 'create': {
      const last = await latestOf(tx, write.record.path);
      if (last ? last.deleted_at === null || last.version !== write.record.version - 1 : write.record.version !== 1)
        throw new GuardFailed();
      await insert(tx, write.record);
      return;
    }
    case 'rotate': {
      const last = await latestOf(tx, write.record.path);
      if (!last || last.deleted_at !== null || last.version !== write.record.version - 1) throw new GuardFailed();
      await tx.query('UPDATE secret_versions SET superseded_at = $1, readable_until = $2 WHERE id = $3', [
        write.record.createdAt,
        write.previousReadableUntil,
        last.id,
      ]);
      await insert(tx, write.record);
      return;
    }
    case 'delete': {
      const last = await latestOf(tx, write.path);
      if (!last || last.deleted_at !== null || last.version !== write.version) throw new GuardFailed();
      await tx.query('UPDATE secret_versions SET deleted_at = $1, sealed = NULL, kek_id = NULL WHERE path = $2 AND deleted_at IS NULL', [
        write.at,
        write.path,
      ]);
      return;
    }
    case 'reseal': {
      const result = await tx.query('UPDATE secret_versions SET sealed = $1, kek_id = $2 WHERE id = $3 AND sealed = $4', [
        Buffer.from(write.sealed),
        write.kekId,
        write.id,
        Buffer.from(write.previous),
      ]);
      if (result.rowCount !== 1) throw new GuardFailed();
    }
  }
}

export function postgresSecrets(db: Db): Store['secrets'] {
  return {
    async write(write, audit) {
      try {
        await db.transaction(async (tx) => {
          // The audit chain's lock first, as key transitions do: every secret write then reads its
          // guard under one lock, so replicas racing for a path's next version serialise here.
          await lockAuditChain(tx);
          await applyWrite(tx, write);
          await appendStateAudit(tx, audit);
        });
        return true;
      } catch (err) {
        if (err instanceof GuardFailed || (err as { code?: string }).code === '23505') return false;
        if (err instanceof AuditRejected) {
          throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the row of this secret write; nothing was changed', {
            cause: err.cause,
          });
        }
        throw err;
      }
    },
    async latest(prefix) {
      const { rows } = await db.query<SecretRow>(
        {
          name: 'secret-latest',
          text: `SELECT s.* FROM secret_versions s
                  WHERE substr(s.path, 1, length($1::text)) = $1::text
                    AND s.version = (SELECT max(version) FROM secret_versions WHERE path = s.path)
                  ORDER BY s.path COLLATE "C"`,
        },
        [prefix],
      );
      return rows.map(toSecretVersion);
    },
    async versions(path) {
      const { rows } = await db.query<SecretRow>(
        { name: 'secret-versions', text: 'SELECT * FROM secret_versions WHERE path = $1 ORDER BY version' },
        [path],
      );
      return rows.map(toSecretVersion);
    },
    async readable(selector, now) {
      const { where, values } = selectorSql(selector, 2);
      // The current version has no readable_until; a previous one is readable until its own.
      const { rows } = await db.query<SecretRow>(
        `SELECT * FROM secret_versions WHERE ${where} AND deleted_at IS NULL AND sealed IS NOT NULL
           AND (superseded_at IS NULL OR readable_until > $1) ORDER BY path COLLATE "C", version DESC`,
        [now, ...values],
      );
      return rows.map(toSecretVersion);
    },
    async sealedAfter(afterId, limit) {
      const { rows } = await db.query<SecretRow>(
        {
          name: 'secret-sealed-after',
          text: 'SELECT * FROM secret_versions WHERE sealed IS NOT NULL AND id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT $2',
        },
        [afterId, limit],
      );
      return rows.map(toSecretVersion);
    },
    async erase(now) {
      const result = await db.query(
        'UPDATE secret_versions SET sealed = NULL, kek_id = NULL WHERE sealed IS NOT NULL AND readable_until IS NOT NULL AND readable_until <= $1',
        [now],
      );
      return result.rowCount ?? 0;
    },
  };
}
