import type pg from 'pg';
import { redact } from '../../_utils/redact.js';
import { CreddyError } from '../../errors.js';
import type { UpstreamStatus } from '../../metrics/port.js';
import type { PostgresSettings } from './config.js';

/** The admin connection of one postgres backend: a small pool, opened on first use. */
export interface AdminPool {
  /** Runs `fn` on one connection; maps PostgreSQL's errors to CreddyErrors that name no secret. */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Runs `fn` in one transaction (rolled back if it throws). */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

/**
 * node-postgres and pg-connection-string are imported when the backend is first used, so a
 * deployment without a postgres backend never loads them. The pool is small (issuance holds a
 * connection for a few statements), lets the process exit when idle (a CLI revoking a credential),
 * and bounds every statement so a stuck lock cannot hold a request past the mint deadline. Each
 * unit of work (one `withClient`) is told to `observe`: `ok`, `error` (PostgreSQL refused a
 * statement), or `unreachable` (no connection, or it broke).
 */
export function createAdminPool(settings: PostgresSettings, observe?: (status: UpstreamStatus) => void): AdminPool {
  let pool: Promise<pg.Pool> | undefined;
  const open = (): Promise<pg.Pool> => {
    pool ??= (async () => {
      const [{ default: pgModule }, { parse, toClientConfig }] = await Promise.all([import('pg'), import('pg-connection-string')]);
      const config = toClientConfig(parse(settings.url, { useLibpqCompat: true }));
      const created = new pgModule.Pool({
        ...config,
        application_name: 'creddy-backend',
        max: 2,
        idleTimeoutMillis: 10_000,
        allowExitOnIdle: true,
        connectionTimeoutMillis: 5_000,
        statement_timeout: settings.statementTimeoutMs,
        idle_in_transaction_session_timeout: settings.statementTimeoutMs * 2,
      });
      created.on('error', () => {});
      return created;
    })();
    pool.catch(() => (pool = undefined));
    return pool;
  };
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await (await open()).connect();
    } catch (err) {
      observe?.('unreachable');
      throw adminError(err, settings);
    }
    let broken: Error | undefined;
    try {
      const result = await fn(client);
      observe?.('ok');
      return result;
    } catch (err) {
      if (!(err as { code?: unknown }).code) broken = err as Error; // not a server error: the connection may be gone
      observe?.(broken ? 'unreachable' : 'error');
      throw adminError(err, settings);
    } finally {
      client.release(broken);
    }
  };
  return {
    withClient,
    transaction: (fn) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(client);
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    async end() {
      const opened = pool;
      pool = undefined;
      if (opened) await (await opened).end();
    },
  };
}

/** SQLSTATEs that mean "the admin role lacks a right" or "a configured role is missing": the operator must fix config. */
const MISCONFIGURED = new Set(['42501', '42704', '0LP01', '2BP01']);

/**
 * A PostgreSQL failure as a CreddyError. Rights and missing roles are ERR_BACKEND_MISCONFIGURED
 * (the message says what to grant); anything else downstream is ERR_BACKEND_UPSTREAM. Messages
 * carry PostgreSQL's own text (which never quotes a statement) and the masked URL, redacted.
 */
export function adminError(err: unknown, settings: PostgresSettings): CreddyError {
  if (err instanceof CreddyError) return err;
  const e = err as { code?: string; message?: string };
  const said = redact(String(e.message ?? err).replaceAll(settings.url, settings.display)).slice(0, 300);
  if (e.code && MISCONFIGURED.has(e.code)) {
    return new CreddyError(
      'ERR_BACKEND_MISCONFIGURED',
      `the admin role of ${settings.display} cannot do this: PostgreSQL said "${said}" (the role needs CREATEROLE, pg_signal_backend and the right to grant the configured roles; run creddy doctor)`,
      { expose: true, cause: err, details: { upstream: 'postgres', sqlstate: e.code } },
    );
  }
  return new CreddyError('ERR_BACKEND_UPSTREAM', `PostgreSQL at ${settings.display} failed: ${said}`, {
    expose: true,
    cause: err,
    details: { upstream: 'postgres', sqlstate: e.code ?? null },
  });
}
