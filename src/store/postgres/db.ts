import type pg from 'pg';
import { SILENT_AFTER_MS } from './connect.js';
import { isUnavailable, storeError } from './errors.js';

/**
 * A query as node-postgres takes it; `name` makes it a per-connection prepared statement. `long`
 * marks a statement that may take more than the pool's deadline on a healthy database (an
 * aggregate, a bulk delete): it is given until just past the server's statement_timeout instead.
 */
export type Query = string | { readonly name?: string; readonly text: string; readonly long?: true };

/** The one client a transaction runs on. */
export interface Tx {
  query<R extends pg.QueryResultRow = Record<string, unknown>>(query: Query, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

/** The pool, behind the schema check every call waits for once. */
export interface Db extends Tx {
  /** Runs `fn` in one READ COMMITTED transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
  /** A connection of its own for the caller to hold (migrations, session advisory locks). */
  connect(): Promise<pg.PoolClient>;
  end(): Promise<void>;
}

/**
 * Advisory lock ids, (class, object) pairs: the class is creddy's, the object the purpose. Locks
 * are scoped to the database, so two deployments on one cluster never contend.
 */
export const LOCK_CLASS = 0x63726464; // "crdd"
export const LOCKS = {
  /** Held (transaction-scoped) by every audit append: one writer at a time reads the head and chains. */
  audit: 1,
  /** Held (session-scoped) while migrating: two `creddy store migrate` at once cannot both apply. */
  migrate: 2,
} as const;

/** Takes the transaction-scoped lock on the audit chain (released at COMMIT/ROLLBACK). */
export const lockAuditChain = (tx: Tx): Promise<unknown> =>
  tx.query({ name: 'lock-audit', text: 'SELECT pg_advisory_xact_lock($1, $2)' }, [LOCK_CLASS, LOCKS.audit]);

/** node-postgres's query config; `query_timeout` per query is read by pg but missing from its types. */
type QueryConfig = pg.QueryConfig & { query_timeout?: number };

const config = (query: Query, values: readonly unknown[] | undefined): QueryConfig => {
  const v = values as unknown[]; // undefined passes: pg then sends the statement without parameters
  if (typeof query === 'string') return { text: query, values: v };
  const { long, ...rest } = query;
  return { ...rest, values: v, ...(long ? { query_timeout: SILENT_AFTER_MS } : {}) };
};

/**
 * Wraps the pool so that every call first waits for `ready` (the schema check), which runs once
 * and is retried after a failure (the database may come up later than creddy). A lost or refused
 * connection comes out as ERR_NOT_READY (see errors.ts).
 */
export function createDb(
  pool: pg.Pool,
  check: () => Promise<void>,
  /**
   * `commitDeadlineMs`: the client's deadline on COMMIT (default: the pool's). A server gives it
   * three times `audit.write_timeout` (see createPostgresStore).
   */
  options: { readonly commitDeadlineMs?: number } = {},
): Db {
  const commit: QueryConfig = {
    text: 'COMMIT',
    ...(options.commitDeadlineMs === undefined ? {} : { query_timeout: options.commitDeadlineMs }),
  };
  let ready: Promise<void> | undefined;
  /**
   * The database's or role's own `synchronous_commit` is `off` (ALTER DATABASE/ROLE … SET): a
   * COMMIT would then answer before its WAL is flushed, and a 201 could follow an audit row a
   * crash loses. Read once with the schema check; durable transactions then ask for `on`
   * themselves. Any other value (`on`, `local`, `remote_write`, `remote_apply`) flushes the
   * primary's WAL first and is left as the operator set it.
   */
  let commitUnflushed = false;
  const checkAll = async (): Promise<void> => {
    await check();
    const { rows } = await pool.query<{ value: string }>("SELECT current_setting('synchronous_commit') AS value");
    commitUnflushed = rows[0]?.value === 'off';
  };
  const whenReady = (): Promise<void> =>
    (ready ??= checkAll().catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
  return {
    async query(query, values) {
      try {
        await whenReady();
        // On an error (a deadline passed included) pg-pool closes the connection, never reusing it.
        return await pool.query(config(query, values));
      } catch (err) {
        throw storeError(err);
      }
    },
    async transaction(fn, options = {}) {
      let client: pg.PoolClient;
      try {
        await whenReady();
        client = await pool.connect();
      } catch (err) {
        throw storeError(err);
      }
      let broken: Error | undefined;
      // A checked-out client has no error listener of the pool's: a connection lost between two
      // statements (the server shutting down) would be an unhandled 'error' that ends the process.
      const lost = (err: Error): void => {
        broken = err;
      };
      client.on('error', lost);
      try {
        await client.query('BEGIN');
        // Durability is per transaction; `false` only for benchmarks (CREDDY_AUDIT_SYNC=off).
        if (options.durable === false) await client.query('SET LOCAL synchronous_commit = off');
        else if (commitUnflushed) await client.query('SET LOCAL synchronous_commit = on');
        const result = await fn({ query: (q, v) => client.query(config(q, v)) });
        await client.query(commit);
        return result;
      } catch (err) {
        // A connection that is lost or left a statement unanswered past its deadline is closed,
        // not asked to ROLLBACK: that would only queue behind the statement it never answered
        // (another deadline), and a connection the server may still answer must not be reused.
        // The server rolls back what the session held when it notices the connection is gone,
        // or when its idle_in_transaction_session_timeout ends it.
        if (broken === undefined && isUnavailable(err)) broken = err as Error;
        if (broken === undefined) {
          await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
            broken = rollbackErr as Error; // the connection is gone: do not return it to the pool
          });
        }
        throw storeError(err);
      } finally {
        client.off('error', lost);
        client.release(broken);
      }
    },
    async connect() {
      return pool.connect();
    },
    end: () => pool.end(),
  };
}
