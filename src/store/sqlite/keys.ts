import type Database from 'better-sqlite3';
import type { KeyAudit, KeyOp, KeyRecord, Store } from '../types.js';
import { createAppendTransaction } from './audit-append.js';

interface KeyRow {
  kid: string;
  state: KeyRecord['state'];
  public_x: string;
  sealed_private: Buffer;
  kek_id: string;
  created_at: number;
  published_at: number;
  activated_at: number | null;
  retired_at: number | null;
  revoked_at: number | null;
}

const toRecord = (row: KeyRow): KeyRecord => ({
  kid: row.kid,
  state: row.state,
  publicX: row.public_x,
  sealedPrivate: row.sealed_private,
  kekId: row.kek_id,
  createdAt: row.created_at,
  publishedAt: row.published_at,
  activatedAt: row.activated_at,
  retiredAt: row.retired_at,
  revokedAt: row.revoked_at,
});

const COLUMNS = {
  state: 'state',
  activatedAt: 'activated_at',
  retiredAt: 'retired_at',
  revokedAt: 'revoked_at',
  sealedPrivate: 'sealed_private',
  kekId: 'kek_id',
} as const;

/** Thrown inside the transaction to roll it back when a guard fails. */
class GuardFailed extends Error {}

export function sqliteKeys(db: Database.Database): Store['keys'] {
  const list = db.prepare<[], KeyRow>('SELECT * FROM signing_keys ORDER BY created_at, kid');
  const insert = db.prepare(
    `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at, revoked_at)
     VALUES (@kid, @state, @publicX, @sealedPrivate, @kekId, @createdAt, @publishedAt, @activatedAt, @retiredAt, @revokedAt)`,
  );
  const usage = db.prepare<[string], { count: number; last_exp: number | null }>(
    'SELECT count(*) AS count, max(expires_at) AS last_exp FROM credentials WHERE kid = ?',
  );

  // Nested in applyAll (a savepoint): the audit rows commit or roll back with the key ops.
  const appendAll = createAppendTransaction(db);

  // BEGIN IMMEDIATE: take the write lock before reading guards, so two rotators serialise.
  const applyAll = db.transaction((ops: readonly KeyOp[], audit: KeyAudit | undefined) => {
    for (const op of ops) {
      if (op.op === 'insert') {
        insert.run({ ...op.key, sealedPrivate: Buffer.from(op.key.sealedPrivate) });
        continue;
      }
      const entries = Object.entries(op.set).map(([field, value]) => [COLUMNS[field as keyof typeof COLUMNS], value] as const);
      const sets = entries.map(([column]) => `${column} = ?`).join(', ');
      const values = entries.map(([, value]) => (value instanceof Uint8Array ? Buffer.from(value) : value));
      const result = db.prepare(`UPDATE signing_keys SET ${sets} WHERE kid = ? AND state = ?`).run(...values, op.kid, op.expect);
      if (result.changes !== 1) throw new GuardFailed();
    }
    if (audit && audit.events.length > 0) appendAll(audit.events.map((event) => ({ event })), audit.seal);
  });

  return {
    async list() {
      return list.all().map(toRecord);
    },
    async apply(ops, audit) {
      try {
        applyAll.immediate(ops, audit);
        return true;
      } catch (err) {
        // A lost race shows up as a failed guard or a unique-index violation (two `current`).
        if (err instanceof GuardFailed || (err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) return false;
        throw err;
      }
    },
    async usage(kids) {
      // One indexed lookup per kid (credentials_kid); there are only ever a handful of keys.
      return new Map(
        kids.map((kid) => {
          const row = usage.get(kid);
          return [kid, { count: row?.count ?? 0, lastExp: row?.last_exp ?? 0 }] as const;
        }),
      );
    },
  };
}
