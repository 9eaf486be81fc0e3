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
 */
export function decideTtl(requested: unknown, backend: TtlPolicy): TtlDecision {
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
  if (min && granted < min.seconds) {
    granted = min.seconds;
    clampedBy = min.reason;
  }
  return { requested: asked, granted, clamped_by: clampedBy };
}
