import type Database from 'better-sqlite3';
import { CreddyError } from '../../errors.js';
import type { SecretVersionRecord } from '../../model/secret.js';
import { AuditRejected } from '../audit-rejected.js';
import type { KeyAudit, SecretSelector, SecretWrite, Store } from '../port.js';
import { type SecretRow, toSecretVersion } from '../rows.js';
import { appendStateAudit, createAppendTransaction } from './audit-append.js';
import { storeError } from './errors.js';

/** Thrown inside the transaction to roll it back when a guard fails. */
class GuardFailed extends Error {}

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

/** `substr(path, 1, n) = prefix`: byte-exact and case-sensitive, unlike LIKE. */
function selectorSql(selector: SecretSelector): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (selector.paths.length > 0) {
    clauses.push(`path IN (${selector.paths.map(() => '?').join(', ')})`);
    params.push(...selector.paths);
  }
  for (const prefix of selector.prefixes) {
    clauses.push('substr(path, 1, length(?)) = ?');
    params.push(prefix, prefix);
  }
  return { where: clauses.length > 0 ? `(${clauses.join(' OR ')})` : '0', params };
}

export function sqliteSecrets(db: Database.Database): Store['secrets'] {
  const latestOf = db.prepare<[string], SecretRow>('SELECT * FROM secret_versions WHERE path = ? ORDER BY version DESC LIMIT 1');
  const insert = db.prepare(
    `INSERT INTO secret_versions (id, path, version, sealed, kek_id, created_at, created_by, generated, superseded_at, readable_until, deleted_at)
     VALUES (@id, @path, @version, @sealed, @kekId, @createdAt, @createdBy, @generated, NULL, NULL, NULL)`,
  );
  const supersede = db.prepare('UPDATE secret_versions SET superseded_at = ?, readable_until = ? WHERE path = ? AND version = ?');
  const tombstone = db.prepare(
    'UPDATE secret_versions SET deleted_at = ?, sealed = NULL, kek_id = NULL WHERE path = ? AND deleted_at IS NULL',
  );
  const reseal = db.prepare('UPDATE secret_versions SET sealed = ?, kek_id = ? WHERE id = ? AND sealed = ?');
  const latest = db.prepare<[string, string], SecretRow>(
    `SELECT s.* FROM secret_versions s
      WHERE substr(s.path, 1, length(?)) = ? AND s.version = (SELECT max(version) FROM secret_versions WHERE path = s.path)
      ORDER BY s.path`,
  );
  const versions = db.prepare<[string], SecretRow>('SELECT * FROM secret_versions WHERE path = ? ORDER BY version');
  const sealedAfter = db.prepare<[string, number], SecretRow>(
    'SELECT * FROM secret_versions WHERE sealed IS NOT NULL AND id > ? ORDER BY id LIMIT ?',
  );
  const erase = db.prepare(
    'UPDATE secret_versions SET sealed = NULL, kek_id = NULL WHERE sealed IS NOT NULL AND readable_until IS NOT NULL AND readable_until <= ?',
  );

  // Nested in apply (a savepoint): the audit rows commit or roll back with the write.
  const appendAll = createAppendTransaction(db);

  const params = (record: SecretVersionRecord) => ({
    ...record,
    sealed: record.sealed === null ? null : Buffer.from(record.sealed),
    generated: record.generated ? 1 : 0,
  });

  const applyWrite = (write: SecretWrite): void => {
    switch (write.kind) {
      case 'create': {
        const last = latestOf.get(write.record.path);
        if (last ? last.deleted_at === null || last.version !== write.record.version - 1 : write.record.version !== 1)
          throw new GuardFailed();
        insert.run(params(write.record));
        return;
      }
      case 'rotate': {
        const last = latestOf.get(write.record.path);
        if (!last || last.deleted_at !== null || last.version !== write.record.version - 1) throw new GuardFailed();
        supersede.run(write.record.createdAt, write.previousReadableUntil, last.path, last.version);
        insert.run(params(write.record));
        return;
      }
      case 'delete': {
        const last = latestOf.get(write.path);
        if (!last || last.deleted_at !== null || last.version !== write.version) throw new GuardFailed();
        tombstone.run(write.at, write.path);
        return;
      }
      case 'reseal':
        if (reseal.run(Buffer.from(write.sealed), write.kekId, write.id, Buffer.from(write.previous)).changes !== 1)
          throw new GuardFailed();
    }
  };

  // BEGIN IMMEDIATE: the write lock is taken before the guard is read, so racing writers serialise.
  const apply = db.transaction((write: SecretWrite, audit: KeyAudit) => {
    applyWrite(write);
    appendStateAudit(appendAll, audit);
  });

  return {
    async write(write, audit) {
      try {
        apply.immediate(write, audit);
        return true;
      } catch (err) {
        if (err instanceof GuardFailed || (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
        if (err instanceof AuditRejected) {
          throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the row of this secret write; nothing was changed', {
            cause: err.cause,
          });
        }
        throw storeError(err);
      }
    },
    async latest(prefix) {
      return latest.all(prefix, prefix).map(toSecretVersion);
    },
    async versions(path) {
      return versions.all(path).map(toSecretVersion);
    },
    async readable(selector, now) {
      const { where, params: values } = selectorSql(selector);
      // The current version has no readable_until; a previous one is readable until its own.
      const rows = db
        .prepare<unknown[], SecretRow>(
          `SELECT * FROM secret_versions WHERE ${where} AND deleted_at IS NULL AND sealed IS NOT NULL
             AND (superseded_at IS NULL OR readable_until > ?) ORDER BY path, version DESC`,
        )
        .all(...values, now);
      return rows.map(toSecretVersion);
    },
    async sealedAfter(afterId, limit) {
      return sealedAfter.all(afterId, limit).map(toSecretVersion);
    },
    async erase(now) {
      return erase.run(now).changes;
    },
  };
}
