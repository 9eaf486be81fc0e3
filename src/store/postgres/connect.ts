import pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';
import { CreddyError } from '../../errors.js';

/** What the store needs to reach its database (see StoreConfig, kind `postgres`). */
export interface PostgresTarget {
  readonly url: string;
  /** The URL with its password masked: the only form that appears in messages. */
  readonly display: string;
  readonly poolSize: number;
}

/** Type OIDs read as JS numbers: seq, epoch ms and counts fit in 2^53 long before they overflow. */
const INT8_OID = 20;

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The server cancels a statement that runs longer than this (statement_timeout, see clientConfig). */
export const STATEMENT_TIMEOUT_MS = 30_000;

/**
 * The client's deadline on a statement when none shorter is asked for: just past the server's own
 * statement_timeout, so a statement that is merely slow is cancelled by the server (an answer, and
 * the connection is kept) and only a connection that has gone silent ever reaches it.
 */
export const SILENT_AFTER_MS = STATEMENT_TIMEOUT_MS + 5_000;

/** The longest wait for a new connection (TCP, TLS, authentication) or for a free one in the pool. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Connection settings from a postgres:// URL. `sslmode` keeps libpq's meaning (disable, require,
 * verify-ca, verify-full; sslrootcert/sslcert/sslkey name files); what the URL leaves out comes
 * from the standard PG* variables (PGPASSWORD, PGHOST, …) and ~/.pgpass, as with psql.
 */
export function clientConfig(target: PostgresTarget): pg.ClientConfig {
  let config: pg.ClientConfig;
  try {
    config = toClientConfig(parse(target.url, { useLibpqCompat: true }));
  } catch (err) {
    // The parser's message may quote the URL: name only the masked form.
    throw new CreddyError(
      'ERR_CONFIG_INVALID',
      `store: cannot use ${target.display}: ${(err as Error).message.replace(target.url, target.display)}`,
    );
  }
  return {
    ...config,
    types,
    application_name: 'creddy',
    // A connection that cannot be made fails fast, so /readyz and the audit writer's 503 come in time.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // TCP keepalive probes after 10 s of silence (the OS default is two hours), then, as libuv
    // sets them, every second ten times: an idle connection whose host vanished without a reset
    // (a failover that moved the address, a partition) is closed about 20 s later rather than
    // handed out — the LISTEN connection, pooled connections between uses. A statement waiting
    // for its answer is bounded by the pool's deadline instead (createPool): keepalive does not
    // probe while sent data is unacknowledged, nor notice a peer that acknowledges but never answers.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A statement or a transaction left open by a stalled process must not hold locks forever:
    // the server cancels them, the advisory locks they hold are released with them.
    statement_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: STATEMENT_TIMEOUT_MS,
  };
}

/** How long a pool's connections may stay silent. */
export interface PoolOptions {
  /**
   * The client's deadline on each statement (node-postgres `query_timeout`): a statement with no
   * answer by then fails with ERR_NOT_READY and its connection is closed, never returned to the
   * pool, since whatever it was waiting for may still arrive and would answer the next query.
   * It also bounds the wait for a connection, and the server ends a transaction of ours that sits
   * idle longer (idle_in_transaction_session_timeout), so a session whose client went silent
   * mid-transaction releases the audit chain's lock after this long, not after 30 s.
   * Unset: no client deadline (migrations and `store copy`, which may run long on purpose).
   */
  readonly deadlineMs?: number;
}

/** The pool every store method draws from. Idle-connection errors only drop that connection. */
export function createPool(target: PostgresTarget, options: PoolOptions = {}): pg.Pool {
  const { deadlineMs } = options;
  const bounded =
    deadlineMs === undefined
      ? {}
      : {
          query_timeout: deadlineMs,
          connectionTimeoutMillis: Math.min(CONNECT_TIMEOUT_MS, deadlineMs),
          idle_in_transaction_session_timeout: Math.min(STATEMENT_TIMEOUT_MS, deadlineMs),
        };
  const pool = new pg.Pool({ ...clientConfig(target), ...bounded, max: target.poolSize, idleTimeoutMillis: 30_000 });
  // Without a listener, a server restart killing an idle connection would crash the process;
  // the pool replaces the connection on the next checkout.
  pool.on('error', () => {});
  return pool;
}
