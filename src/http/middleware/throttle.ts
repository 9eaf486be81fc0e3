import type { AuthThrottleConfig } from '../../config/types.js';

/** What to do with one failed authentication. */
export type ThrottleVerdict =
  /** Answer 401 and audit it (`auth.failed`). */
  | { readonly kind: 'audit' }
  /** Answer 429 and audit this one failure as the start of the address's block (`auth.throttled`). */
  | { readonly kind: 'block'; readonly retryAfter: number }
  /**
   * Answer 429 without a row of its own: counted, and reported in the next summary row. `global`:
   * refused because the global audit budget is spent, not because this address is blocked.
   */
  | { readonly kind: 'refuse'; readonly retryAfter: number; readonly global: boolean };

/** Refusals since the last summary: the total, and the addresses that drew the most. */
export interface RefusalSummary {
  readonly refused: number;
  /** Distinct addresses refused (those beyond 10,000 in one period count as one, `(others)`). */
  readonly addresses: number;
  readonly top: ReadonlyArray<{ readonly address: string; readonly refused: number }>;
  /** True when the global budget (not only per-address blocks) refused some. */
  readonly globalBudgetExhausted: boolean;
}

export interface AuthThrottle {
  /** Judges one failed authentication from `address` (see throttleKey). */
  failed(address: string, nowMs: number): ThrottleVerdict;
  /** Refusals since the last call, or null if none; the counts restart from zero. */
  drain(): RefusalSummary | null;
}

/** Addresses remembered at most; the least recently failing are forgotten first. */
const MAX_TRACKED = 10_000;
/** The count for addresses beyond MAX_TRACKED in one summary period. */
const OTHERS = '(others)';
/** Addresses named in a summary row. */
const TOP_N = 10;

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

/**
 * Every failed authentication is audited, so without a bound an anonymous client could grow
 * the audit log — one fsynced row per request — as fast as it can send. Two bounds:
 *
 * - per address: after `maxFailures` within `window`, its failures are refused (429) for
 *   `block` seconds — one row starts the block, the rest are only counted;
 * - globally: at most `maxAuditedPerWindow` failures are audited one by one per `window`,
 *   whatever the number of addresses (a botnet, or a host with a whole IPv6 /48); beyond it
 *   every failure is refused and counted until the window rolls over.
 *
 * Counts are reported by `drain()` as one summary row (the server calls it every few seconds
 * and at shutdown), so the log stays complete while growing by a bounded number of rows.
 * Only requests that already failed are judged: an agent with a valid token is never refused
 * because a neighbour behind the same NAT guessed wrong.
 */
export function createAuthThrottle(config: AuthThrottleConfig): AuthThrottle {
  const entries = new Map<string, Entry>();
  const windowMs = config.window * 1000;
  const blockMs = config.block * 1000;
  let globalWindowStart = -Infinity;
  let globalAudited = 0;
  let refused = new Map<string, number>();
  let globalRefusals = false;

  const refuse = (address: string, retryAfterMs: number, global: boolean): ThrottleVerdict => {
    // Bounded like the entries: past MAX_TRACKED addresses, the rest share one count.
    const key = refused.has(address) || refused.size < MAX_TRACKED ? address : OTHERS;
    refused.set(key, (refused.get(key) ?? 0) + 1);
    if (global) globalRefusals = true;
    return { kind: 'refuse', retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)), global };
  };

  const entryFor = (address: string, nowMs: number): Entry => {
    const found = entries.get(address);
    if (found) {
      // Re-insert: Map order is then least recently failing first, which is what to forget.
      entries.delete(address);
      entries.set(address, found);
      return found;
    }
    if (entries.size >= MAX_TRACKED) entries.delete(entries.keys().next().value!);
    const entry = { windowStart: nowMs, failures: 0, blockedUntil: 0 };
    entries.set(address, entry);
    return entry;
  };

  return {
    failed(address, nowMs) {
      const entry = entryFor(address, nowMs);
      if (entry.blockedUntil > nowMs) return refuse(address, entry.blockedUntil - nowMs, false);
      if (nowMs - globalWindowStart >= windowMs) {
        globalWindowStart = nowMs;
        globalAudited = 0;
      }
      if (globalAudited >= config.maxAuditedPerWindow) return refuse(address, globalWindowStart + windowMs - nowMs, true);
      globalAudited++;
      if (nowMs - entry.windowStart >= windowMs) {
        entry.windowStart = nowMs;
        entry.failures = 0;
      }
      entry.failures++;
      if (entry.failures <= config.maxFailures) return { kind: 'audit' };
      entry.blockedUntil = nowMs + blockMs;
      entry.failures = 0;
      entry.windowStart = entry.blockedUntil;
      return { kind: 'block', retryAfter: config.block };
    },
    drain() {
      if (refused.size === 0) return null;
      const counts = [...refused].map(([address, n]) => ({ address, refused: n }));
      const summary: RefusalSummary = {
        refused: counts.reduce((sum, c) => sum + c.refused, 0),
        addresses: counts.length,
        top: counts.sort((a, b) => b.refused - a.refused).slice(0, TOP_N),
        globalBudgetExhausted: globalRefusals,
      };
      refused = new Map();
      globalRefusals = false;
      return summary;
    },
  };
}
