import type pg from 'pg';
import { redact } from '../../_utils/redact.js';
import { CreddyError } from '../../errors.js';
import type { UpstreamStatus } from '../../metrics/port.js';
import type { PostgresSettings } from './config.js';

/** The admin connection of one postgres backend: a small pool, opened on first use. */
export interface AdminPool {
  /**
   * Runs `fn` on one connection; maps PostgreSQL's errors to CreddyErrors that name no secret.
   * With `signal` (issuance's mint deadline), it gives up when the signal aborts, whatever the
   * statement deadlines below: the connection is then closed, never reused (see `deadlineError`).
   */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Runs `fn` in one transaction: rolled back if it throws, and COMMIT not sent once `signal` has
   * aborted. An abort while COMMIT is in flight closes the connection, but the server may have
   * committed: a role left so is an orphan the sweep drops (its password never left creddy).
   */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, signal?: AbortSignal): Promise<T>;
  end(): Promise<void>;
}

/**
 * How much longer than the server's `statement_timeout` the client waits for a statement's answer.
 * A statement that is merely slow (a lock) is cancelled by the server first — an answer, and the
 * connection is kept; only a connection that has gone silent (its host vanished behind the
 * address, a partition: no FIN, no RST, the kernel still acknowledging) reaches this deadline.
 */
export const SILENT_MARGIN_MS = 2_000;

/** The longest wait for a new connection (TCP, TLS, authentication) or for a free one in the pool. */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * node-postgres and pg-connection-string are imported when the backend is first used, so a
 * deployment without a postgres backend never loads them. The pool is small (issuance holds a
 * connection for a few statements), lets the process exit when idle (a CLI revoking a credential),
 * and bounds every statement on both sides: the server cancels one past `statement_timeout` (a
 * stuck lock), and the client gives up on one unanswered `SILENT_MARGIN_MS` later (a server gone
 * silent, which no server-side timeout can end), as it gives up on a connection not made within
 * `CONNECT_TIMEOUT_MS` (or the statement deadline, if shorter). Each unit of work (one
 * `withClient`) is told to `observe`: `ok`, `error` (PostgreSQL refused a statement),
 * `unreachable` (no connection, or it broke or went silent), or `timeout` (its signal aborted first).
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
        connectionTimeoutMillis: connectAfterMs(settings),
        // The client's own deadline (node-postgres rejects the query, and the connection, never
        // answered, is closed: see `broken` below). Without it a silent server held issuance,
        // revocation and the sweep for as long as the OS kept the socket: hours.
        query_timeout: silentAfterMs(settings),
        // Idle pooled connections whose host vanished are found by TCP keepalive (10 s, then the
        // OS's probes) rather than handed to the next request.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        statement_timeout: settings.statementTimeoutMs,
        idle_in_transaction_session_timeout: settings.statementTimeoutMs * 2,
      });
      created.on('error', () => {});
      return created;
    })();
    pool.catch(() => (pool = undefined));
    return pool;
  };
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>, signal?: AbortSignal): Promise<T> => {
    let client: pg.PoolClient;
    let broken: Error | undefined;
    // Made only for work that has a deadline: an error captures a stack.
    const deadline = signal ? deadlineError(settings) : undefined;
    if (signal?.aborted) {
      // Started past the deadline (the work before it took it all): no connection is asked for.
      observe?.('timeout');
      throw deadline;
    }
    const connecting = open().then((p) => p.connect());
    try {
      client = await untilAborted(connecting, signal, deadline);
    } catch (err) {
      if (deadline && err === deadline) {
        // A connection that arrives after the deadline is closed at once, not pooled half-used.
        connecting.then(
          (late) => late.release(true),
          () => {},
        );
        observe?.('timeout');
        throw err;
      }
      observe?.('unreachable');
      throw adminError(err, settings);
    }
    // A checked-out client has no error listener of the pool's: a connection lost between two
    // statements would be an unhandled 'error' that ends the process.
    const lost = (err: Error): void => {
      broken = err;
    };
    client.on('error', lost);
    try {
      const result = await untilAborted(fn(client), signal, deadline);
      observe?.('ok');
      return result;
    } catch (err) {
      if (deadline && err === deadline) {
        // Given up with a statement in flight: the connection is closed, so whatever it was doing
        // ends with it (a transaction left open is rolled back by the server; only a COMMIT
        // already sent may still land, leaving a role the sweep drops).
        broken = deadline;
        observe?.('timeout');
        throw err;
      }
      // Not a server error (a lost or silent connection): it is closed, never reused, since an
      // answer it never gave may still arrive and would answer the next query.
      if (!(err as { code?: unknown }).code) broken ??= err as Error;
      observe?.(broken ? 'unreachable' : 'error');
      throw adminError(err, settings);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  };
  return {
    withClient,
    transaction: (fn, signal) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(client);
          // Past the deadline the caller has been told it failed: what it asked for must not
          // happen after all (withClient is closing this connection, which rolls it back).
          if (signal?.aborted) throw new Error('mint deadline passed before COMMIT');
          await client.query('COMMIT');
          return result;
        } catch (err) {
          // Only a connection that answered is asked to roll back: on a silent one, ROLLBACK
          // would wait out a deadline of its own. The server rolls back when the connection ends.
          if ((err as { code?: unknown }).code) await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }, signal),
    async end() {
      const opened = pool;
      pool = undefined;
      if (opened) await (await opened).end();
    },
  };
}

/**
 * The error of a unit of work given up because its signal aborted (issuance's mint deadline,
 * credentials/issue.ts): 502 ERR_BACKEND_UPSTREAM with `details.reason: timeout`, as the
 * statement deadlines, but without `timeout_ms` (the deadline is the broker's, not this backend's
 * setting). Without it a `statement_timeout` above 18 s let a silent server, or statements each
 * slowed by a lock, hold an issuance past the broker's 20 s.
 */
function deadlineError(settings: PostgresSettings): CreddyError {
  return new CreddyError('ERR_BACKEND_UPSTREAM', `PostgreSQL at ${settings.display} did not finish within the broker's mint deadline`, {
    expose: true,
    details: { upstream: 'postgres', sqlstate: null, reason: 'timeout' },
  });
}

/**
 * Settles as `work` does, or rejects with `deadline` once `signal` aborts (at once if it already
 * has). `work` goes on; its late outcome is handled here, so it is never an unhandled rejection.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, deadline: Error | undefined): Promise<T> {
  if (!signal || !deadline) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(deadline);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** SQLSTATEs that mean "the admin role lacks a right" or "a configured role is missing": the operator must fix config. */
const MISCONFIGURED = new Set(['42501', '42704', '0LP01', '2BP01']);

/** The client's deadline on one statement of the admin connection (ms). */
export const silentAfterMs = (settings: PostgresSettings): number => settings.statementTimeoutMs + SILENT_MARGIN_MS;

/** The client's deadline on making a connection, or getting a free one (ms): never longer than a statement's. */
export const connectAfterMs = (settings: PostgresSettings): number => Math.min(CONNECT_TIMEOUT_MS, silentAfterMs(settings));

/**
 * node-postgres's own messages for its client-side deadlines: a statement unanswered past
 * `query_timeout`, a connection not made (or no pooled one free) within `connectionTimeoutMillis`.
 */
const QUERY_DEADLINE = /^Query read timeout$/;
const CONNECT_DEADLINE = /connection timeout|timeout exceeded when trying to connect/i;

/**
 * A PostgreSQL failure as a CreddyError. Rights and missing roles are ERR_BACKEND_MISCONFIGURED
 * (the message says what to grant); a deadline of the client's is ERR_BACKEND_UPSTREAM with
 * `details.reason: timeout` (the server is silent or unreachable); anything else downstream is
 * ERR_BACKEND_UPSTREAM. Messages carry PostgreSQL's own text (which never quotes a statement) and
 * the masked URL, redacted.
 */
export function adminError(err: unknown, settings: PostgresSettings): CreddyError {
  if (err instanceof CreddyError) return err;
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? '');
  if (!e.code && (QUERY_DEADLINE.test(message) || CONNECT_DEADLINE.test(message))) {
    const connecting = !QUERY_DEADLINE.test(message);
    const ms = connecting ? connectAfterMs(settings) : silentAfterMs(settings);
    return new CreddyError(
      'ERR_BACKEND_UPSTREAM',
      `PostgreSQL at ${settings.display} did not ${connecting ? 'accept a connection' : 'answer'} within ${ms} ms`,
      { expose: true, cause: err, details: { upstream: 'postgres', sqlstate: null, reason: 'timeout', timeout_ms: ms } },
    );
  }
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
