import type { KeysConfig } from '../config/types.js';
import type { SigningKeyFacts } from '../metrics/port.js';
import type { KeyRecord } from '../model/key.js';

/**
 * Seconds added to `publish_ahead` before a `next` key may sign. A key inserted at time T is
 * served by every broker process within one keyring refresh (1 s), and the store keeps whole
 * seconds (up to 1 s of rounding); one more second absorbs a slow refresh. Without it a verifier
 * that fetched the JWKS just before its process refreshed would cache a JWKS without the key
 * until T + 1 s + jwks_max_age, past T + publish_ahead when publish_ahead = jwks_max_age.
 */
export const PUBLISH_LAG_S = 3;

/**
 * A retired key stays published at least this long after retirement, whatever its usage says.
 * Other processes keep signing with it until their next refresh (1 s), and a token signed just
 * before that reaches the credentials table only after its audit commit (tokens are signed after
 * the downstream mint; `audit.write_timeout` ≤ 10 s); until then `usage()` cannot see it. 30 s
 * covers that path with room to spare.
 */
export const RETIRE_GRACE_S = 30;

/** Earliest time (epoch s) the `next` key may be promoted without any verifier missing it. */
export function nextReadyAt(next: KeyRecord, config: KeysConfig): number {
  return next.publishedAt + config.publishAhead + PUBLISH_LAG_S;
}

/** When the schedule wants `current` replaced: `rotation_period` after it started signing. */
export function rotationDueAt(current: KeyRecord, config: KeysConfig): number {
  return (current.activatedAt ?? current.createdAt) + config.rotationPeriod;
}

/**
 * When the schedule will actually rotate: once rotation is due and the next key is ready.
 * Undefined without a `next` (the keyring creates one; nothing can rotate until then).
 */
export function plannedRotationAt(current: KeyRecord, next: KeyRecord | undefined, config: KeysConfig): number | undefined {
  return next ? Math.max(rotationDueAt(current, config), nextReadyAt(next, config)) : undefined;
}

/**
 * When a retired key leaves the JWKS: after the last token it signed has expired, plus clock
 * skew, and never sooner than RETIRE_GRACE_S after retirement.
 */
export function removalAt(retired: KeyRecord, lastExp: number, config: KeysConfig): number {
  return Math.max(lastExp, (retired.retiredAt ?? retired.createdAt) + RETIRE_GRACE_S) + config.clockSkew;
}

/** Planned future transitions of one key, for `keys list` (epoch s, null when not applicable). */
export interface KeyPlan {
  readonly plannedActivation: number | null;
  readonly plannedRetirement: number | null;
  readonly plannedRemoval: number | null;
}

/** What the schedule will do next to `record`, given all keys and each key's latest token exp. */
export function planFor(record: KeyRecord, all: readonly KeyRecord[], lastExp: number, config: KeysConfig): KeyPlan {
  const current = all.find((k) => k.state === 'current');
  const next = all.find((k) => k.state === 'next');
  const rotation = current ? (plannedRotationAt(current, next, config) ?? null) : null;
  switch (record.state) {
    case 'next':
      return { plannedActivation: rotation, plannedRetirement: null, plannedRemoval: null };
    case 'current':
      return { plannedActivation: null, plannedRetirement: rotation, plannedRemoval: null };
    case 'retired':
      return { plannedActivation: null, plannedRetirement: null, plannedRemoval: removalAt(record, lastExp, config) };
    case 'revoked':
      return { plannedActivation: null, plannedRetirement: null, plannedRemoval: record.revokedAt };
  }
}

/**
 * The key schedule as of `now` (epoch s), for the metrics: the current key's age, the next
 * rotation, keys per state, and how many rows the KEK does not open (`unopenable`, from the keyring).
 */
export function signingKeyFacts(records: readonly KeyRecord[], config: KeysConfig, now: number, unopenable = 0): SigningKeyFacts {
  const current = records.find((k) => k.state === 'current');
  const next = records.find((k) => k.state === 'next');
  const byState = { next: 0, current: 0, retired: 0, revoked: 0 };
  for (const k of records) byState[k.state]++;
  const rotation = current ? plannedRotationAt(current, next, config) : undefined;
  return {
    currentAgeSeconds: current ? now - (current.activatedAt ?? current.createdAt) : undefined,
    nextRotationInSeconds: rotation === undefined ? undefined : rotation - now,
    byState,
    unopenable,
  };
}
