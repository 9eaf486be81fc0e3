/**
 * pg clients for test code that survive their connection being dropped: a test stops or kills
 * PostgreSQL, or DROP DATABASE … WITH (FORCE) ends the sessions still open on it.
 */
import { existsSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { maskUrl } from '../../src/_utils/masked-url.js';

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

/** Errors that mean nothing answers at the address, rather than a server that refused us. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);

/**
 * A connected `testClient`. When no server answers, the error says what to do (start the
 * machine's PostgreSQL, or point CREDDY_TEST_PG_URL at one) rather than a bare ECONNREFUSED
 * from deep inside a test's setup.
 */
export async function connectTestClient(connectionString: string): Promise<pg.Client> {
  const client = testClient(connectionString);
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (!UNREACHABLE.has(code)) throw err;
    throw new Error(
      `PostgreSQL not reachable at ${maskUrl(connectionString)} (${code}): start it (${startCommand()}) or set CREDDY_TEST_PG_URL to a server the tests may create databases on (test/README.md)`,
      { cause: err },
    );
  }
  return client;
}

/** How this machine starts its PostgreSQL: `pg_ctlcluster VERSION main start` for each installed Debian cluster. */
function startCommand(): string {
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  return versions.length > 0
    ? versions.map((v) => `pg_ctlcluster ${v} main start`).join(' or ')
    : 'e.g. pg_ctlcluster VERSION main start, with trust auth for postgres on 127.0.0.1:5432';
}
