import { CreddyError } from '../../errors.js';

/** Socket errors of a connection that could not be made or was lost. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is going away or cannot take us: class 08 (connection exception),
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or in
 * recovery), 53300 too_many_connections.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * node-postgres's own words for a connection that ended or never came, or that left a statement
 * unanswered past the pool's deadline (`query_timeout`: the connection is then closed, and whether
 * the statement ran is unknown, as when the connection ends under it).
 */
const LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/** True if `err` says the database cannot be reached right now (rather than refusing a statement). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  return err instanceof Error && LOST.test(err.message);
}

/**
 * Translates a lost or refused connection into ERR_NOT_READY (503: the broker has no usable
 * store right now, try again) at the store boundary; any other error is returned unchanged. The
 * pool replaces dead connections by itself, so the next call after the database is back works.
 */
export function storeError(err: unknown): unknown {
  if (err instanceof CreddyError || !isUnavailable(err)) return err;
  const message =
    (err as Error).message === 'Query read timeout'
      ? 'a statement got no answer in time; its connection was closed'
      : (err as Error).message;
  return new CreddyError('ERR_NOT_READY', `PostgreSQL is unavailable: ${message}`, { cause: err });
}
