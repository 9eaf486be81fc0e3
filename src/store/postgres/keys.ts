import { CreddyError } from '../../errors.js';
import { AuditRejected } from '../audit-rejected.js';
import type { KeyOp, Store } from '../port.js';
import { type KeyRow, toKey } from '../rows.js';
import { appendStateAudit } from './audit-append.js';
import { type Db, lockAuditChain, type Tx } from './db.js';
import { KEYS_CHANNEL } from './listen.js';

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

/** Thrown inside the transaction when the audit rows could not be appended (not a lost race). */

async function applyOp(tx: Tx, op: KeyOp): Promise<void> {
  if (op.op === 'insert') {
    const k = op.key;
    await tx.query(
      `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        k.kid,
        k.state,
        k.publicX,
        Buffer.from(k.sealedPrivate),
        k.kekId,
        k.createdAt,
        k.publishedAt,
        k.activatedAt,
        k.retiredAt,
        k.revokedAt,
      ],
    );
    return;
  }
  const entries = Object.entries(op.set).map(([field, value]) => [COLUMNS[field as keyof typeof COLUMNS], value] as const);
  const sets = entries.map(([column], i) => `${column} = $${i + 1}`).join(', ');
  const values = entries.map(([, value]) => (value instanceof Uint8Array ? Buffer.from(value) : value));
  const n = values.length;
  const result = await tx.query(`UPDATE signing_keys SET ${sets} WHERE kid = $${n + 1} AND state = $${n + 2}`, [
    ...values,
    op.kid,
    op.expect,
  ]);
  if (result.rowCount !== 1) throw new GuardFailed();
}

export function postgresKeys(db: Db, options: { watch: Store['keys']['watch'] }): Store['keys'] {
  return {
    async list() {
      return (
        await db.query<KeyRow>({ name: 'keys-list', text: 'SELECT * FROM signing_keys ORDER BY created_at, kid COLLATE "C"' })
      ).rows.map(toKey);
    },
    async apply(ops, audit) {
      try {
        await db.transaction(async (tx) => {
          // The audit chain's lock first: transitions and appends then queue on one lock in one
          // order, so they cannot deadlock, and racing rotators serialise before reading guards.
          await lockAuditChain(tx);
          for (const op of ops) await applyOp(tx, op);
          await appendStateAudit(tx, audit);
          // Delivered at COMMIT to every replica listening, never for a rolled-back transition.
          await tx.query('SELECT pg_notify($1, $2)', [KEYS_CHANNEL, '']);
        });
        return true;
      } catch (err) {
        // A lost race: a failed guard, or the unique index on `current`/`next` (23505).
        if (err instanceof GuardFailed || (err as { code?: string }).code === '23505') return false;
        if (err instanceof AuditRejected) {
          throw new CreddyError('ERR_AUDIT_UNAVAILABLE', 'the audit log refused the rows of this key transition; nothing was changed', {
            cause: err.cause,
          });
        }
        throw err;
      }
    },
    async usage(kids) {
      // An aggregate over every credential a retired key signed: long on a large table.
      const { rows } = await db.query<{ kid: string; count: number; last_exp: number | null }>(
        {
          text: 'SELECT kid, count(*) AS count, max(expires_at) AS last_exp FROM credentials WHERE kid = ANY($1::text[]) GROUP BY kid',
          long: true,
        },
        [kids],
      );
      const found = new Map(rows.map((r) => [r.kid, r] as const));
      return new Map(kids.map((kid) => [kid, { count: found.get(kid)?.count ?? 0, lastExp: found.get(kid)?.last_exp ?? 0 }] as const));
    },
    ...(options.watch ? { watch: options.watch } : {}),
  };
}
