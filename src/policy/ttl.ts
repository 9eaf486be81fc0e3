import { parseDuration } from '../_utils/duration.js';
import { CreddyError } from '../errors.js';
import type { TtlDecision } from '../wire.js';

/** Shortest TTL anyone may ask for; shorter tokens mostly measure clock skew. */
export const MIN_TTL_SECONDS = 60;

/** A TTL bound that a backend imposes beyond config (e.g. STS sessions last ≥ 900 s). */
export interface TtlBound {
  readonly seconds: number;
  readonly reason: string;
}

/** What the TTL decision needs to know of a backend (a `Backend` satisfies it). Seconds. */
export interface TtlPolicy {
  readonly common: { readonly defaultTtl: number; readonly maxTtl: number };
  readonly ttlLimits: { readonly min?: TtlBound; readonly max?: TtlBound };
}

/**
 * Resolves a requested TTL against the backend. Accepts a duration string (`10m`) or whole
 * seconds. Bad input and anything under 60 s are 400; over `max_ttl` is clamped and reported,
 * not refused, so a caller asking for "as long as possible" still gets a credential.
 *
 * `caps` are the caller's own upper bounds (a federation rule's `max_ttl`, its ID token's expiry):
 * they clamp like `max_ttl`, but unlike it they may fall below a backend's floor (an STS session
 * lasts ≥ 900 s) or the 60 s minimum; then the request is refused rather than granted longer
 * than the caller may hold a credential.
 */
export function decideTtl(requested: unknown, backend: TtlPolicy, caps: readonly TtlBound[] = []): TtlDecision {
  const { defaultTtl, maxTtl } = backend.common;
  let asked: number | null = null;
  if (requested !== undefined && requested !== null) {
    const seconds = parseDuration(requested);
    if (seconds === undefined) {
      throw new CreddyError('ERR_TTL_INVALID', 'ttl must be a duration like "10m" or a whole number of seconds', {
        details: { field: 'ttl' },
      });
    }
    if (seconds < MIN_TTL_SECONDS) {
      throw new CreddyError('ERR_TTL_INVALID', `ttl must be at least ${MIN_TTL_SECONDS}s`, {
        details: { field: 'ttl', min: MIN_TTL_SECONDS },
      });
    }
    asked = seconds;
  }
  let granted = asked ?? defaultTtl;
  let clampedBy: string | null = null;
  if (granted > maxTtl) {
    granted = maxTtl;
    clampedBy = 'max_ttl';
  }
  const { min, max } = backend.ttlLimits;
  if (max && granted > max.seconds) {
    granted = max.seconds;
    clampedBy = max.reason;
  }
  for (const cap of caps) {
    if (granted <= cap.seconds) continue;
    granted = cap.seconds;
    clampedBy = cap.reason;
  }
  if (min && granted < min.seconds) {
    granted = min.seconds;
    clampedBy = min.reason;
  }
  // A cap under the floor leaves nothing to grant: refused, never stretched past the cap.
  const broken = caps.find((cap) => granted > cap.seconds || cap.seconds < MIN_TTL_SECONDS);
  if (broken) {
    const floor = Math.max(min?.seconds ?? 0, MIN_TTL_SECONDS);
    throw new CreddyError(
      'ERR_TTL_INVALID',
      `${broken.reason} allows at most ${Math.max(0, broken.seconds)}s, below the ${floor}s minimum here`,
      {
        details: { field: 'ttl', max: Math.max(0, broken.seconds), reason: broken.reason },
      },
    );
  }
  return { requested: asked, granted, clamped_by: clampedBy };
}
