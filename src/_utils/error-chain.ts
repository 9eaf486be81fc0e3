import { redactCapped } from './redact.js';

/** Longest cause chain followed; SDK errors nest a few levels (fetch failed → ECONNREFUSED). */
const MAX_DEPTH = 4;

/**
 * An error and its causes as one line for logs and audit rows, redacted and bounded:
 * `fetch failed ← connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)`.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < MAX_DEPTH; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(`${current.message}${typeof code === 'string' && !current.message.includes(code) ? ` (${code})` : ''}`);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return redactCapped(parts.join(' ← '), 1000);
}
