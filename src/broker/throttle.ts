import type { AuthThrottleConfig } from '../config/types.js';

/** What to do with one failed authentication. */
export type ThrottleVerdict =
  /** Answer 401 and audit it (`auth.failed`). */
  | { readonly throttled: false; readonly refusedBefore: number }
  /** Answer 429; audit one `auth.throttled` row when the block `started`, nothing otherwise. */
  | { readonly throttled: true; readonly started: boolean; readonly retryAfter: number; readonly refusedBefore: number };

export interface AuthThrottle {
  /**
   * Records a failed authentication from `address`. `refusedBefore` is how many failures an
   * earlier block refused without a row of their own: the caller puts it on the row it writes.
   */
  failed(address: string, nowMs: number): ThrottleVerdict;
  /** Addresses with refusals not yet reported on a row, cleared (for a last row at shutdown). */
  drain(): Array<{ address: string; refused: number }>;
}

/** Addresses remembered at most; the oldest unthrottled ones are forgotten first. */
const MAX_TRACKED = 10_000;

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
  refused: number;
}

/**
 * Every failed authentication is audited, so without a bound an anonymous client could grow
 * the audit log — one fsynced row per request — as fast as it can send. This bounds it per
 * client address: after `maxFailures` failures within `window`, further failures are answered
 * 429 for `block` seconds and counted rather than written, so a flood costs one row per block
 * plus one summary. It only ever looks at requests that already failed: an agent with a valid
 * token is never refused because a neighbour behind the same NAT guessed wrong.
 */
export function createAuthThrottle(config: AuthThrottleConfig): AuthThrottle {
  const entries = new Map<string, Entry>();
  const windowMs = config.window * 1000;
  const blockMs = config.block * 1000;

  const forgetOldest = (nowMs: number): void => {
    // Map order is insertion order: the first entries are the oldest. Keep throttled ones
    // (forgetting them would end their block early) unless all of the first 64 are.
    let victim: string | undefined;
    let looked = 0;
    for (const [address, entry] of entries) {
      victim ??= address;
      if (entry.blockedUntil <= nowMs && entry.refused === 0) {
        victim = address;
        break;
      }
      if (++looked >= 64) break;
    }
    if (victim !== undefined) entries.delete(victim);
  };

  return {
    failed(address, nowMs) {
      let entry = entries.get(address);
      if (!entry) {
        if (entries.size >= MAX_TRACKED) forgetOldest(nowMs);
        entry = { windowStart: nowMs, failures: 0, blockedUntil: 0, refused: 0 };
        entries.set(address, entry);
      }
      if (entry.blockedUntil > nowMs) {
        entry.refused++;
        return { throttled: true, started: false, retryAfter: Math.ceil((entry.blockedUntil - nowMs) / 1000), refusedBefore: 0 };
      }
      const refusedBefore = entry.refused;
      entry.refused = 0;
      if (nowMs - entry.windowStart >= windowMs) {
        entry.windowStart = nowMs;
        entry.failures = 0;
      }
      entry.failures++;
      if (entry.failures <= config.maxFailures) return { throttled: false, refusedBefore };
      entry.blockedUntil = nowMs + blockMs;
      entry.failures = 0;
      entry.windowStart = entry.blockedUntil;
      return { throttled: true, started: true, retryAfter: config.block, refusedBefore };
    },
    drain() {
      const out: Array<{ address: string; refused: number }> = [];
      for (const [address, entry] of entries) {
        if (entry.refused === 0) continue;
        out.push({ address, refused: entry.refused });
        entry.refused = 0;
      }
      return out;
    },
  };
}
