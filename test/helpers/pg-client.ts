/**
 * pg clients for test code that survive their connection being dropped: a test stops or kills
 * PostgreSQL, or DROP DATABASE … WITH (FORCE) ends the sessions still open on it.
 */
import pg from 'pg';

/**
 * Errors a test's own teardown or fault causes on an idle connection: the server stopped or
 * crashed (a private server's `stop()`), or the session was ended (DROP DATABASE … WITH (FORCE),
 * pg_terminate_backend), or the socket closed under it.
 */
const EXPECTED_DISCONNECT = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED']);

/**
 * The 'error' listener every pg Client or Pool created in test code needs. pg emits 'error' on a
 * client whose connection drops while no query is running on it (a query running gets the error
 * itself), and an 'error' event without a listener is an uncaught exception that kills the
 * vitest worker, and every file still queued on it. Dropped connections are what fault tests and
 * teardown do, so those are ignored; anything else is logged. Nothing is hidden: a later query
 * on that client still rejects ("not queryable").
 */
export function ignoreDisconnects(err: Error & { code?: string }): void {
  if (EXPECTED_DISCONNECT.has(err.code ?? '') || /Connection terminated/i.test(err.message)) return;
  console.warn(`test PostgreSQL client: ${err.code ?? 'error'}: ${err.message}`);
}

/** A pg.Client for test code, with `ignoreDisconnects` as its 'error' listener. Connect it yourself. */
export function testClient(connectionString: string): pg.Client {
  const client = new pg.Client({ connectionString });
  client.on('error', ignoreDisconnects);
  return client;
}
