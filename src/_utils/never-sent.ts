/**
 * Error codes of a connection that was never made: the name did not resolve, the address was
 * unreachable, the server refused the connection, or connecting timed out. No byte of the request
 * reached the server, so it cannot have acted on it.
 */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Longest cause chain followed (fetch failed → AggregateError → ECONNREFUSED). */
const MAX_DEPTH = 4;

/**
 * True when a failed `fetch` provably never sent its request: its cause is a connect failure (for
 * every address tried, when Node tried several). Anything else — a reset or closed connection, a
 * timeout, a TLS failure, an unknown error — may have come after the server read the request, so
 * it is false: a request that is not safe to repeat must not be repeated on it.
 */
export function requestNeverSent(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < MAX_DEPTH; depth++) {
    // Our own attempt timeout or the caller's deadline: the request may be in flight.
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return false;
    if (current instanceof AggregateError && current.errors.length > 0) return current.errors.every(requestNeverSent);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_FAILURES.has(code)) return true;
    current = current.cause;
  }
  return false;
}
