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
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    // A statement or a transaction left open by a stalled process must not hold locks forever:
    // the server cancels them, the advisory locks they hold are released with them.
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 30_000,
  };
}

/** The pool every store method draws from. Idle-connection errors only drop that connection. */
export function createPool(target: PostgresTarget): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(target), max: target.poolSize, idleTimeoutMillis: 30_000 });
  // Without a listener, a server restart killing an idle connection would crash the process;
  // the pool replaces the connection on the next checkout.
  pool.on('error', () => {});
  return pool;
}
