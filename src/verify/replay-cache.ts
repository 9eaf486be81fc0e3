import { CreddyError } from '../errors.js';

/**
 * Remembers one-time identifiers (DPoP proof `jti`s) until they expire. Supply your own (e.g.
 * backed by Redis `SET key 1 NX PXAT expiresAt`) when several verifier instances must share it,
 * otherwise a proof replayed to another instance is accepted there.
 */
export interface ReplayCache {
  /**
   * Records `id` until `expiresAt` (ms since the epoch). True the first time, false when `id` is
   * already recorded and not yet expired (a replay). Must be atomic: two concurrent calls with
   * one id must not both see true.
   */
  use(id: string, expiresAt: number): boolean | Promise<boolean>;
}

/** Options of {@link createReplayCache}. */
export interface ReplayCacheOptions {
  /** The most ids held at once (default 100 000); beyond it new ids are refused, never old ones forgotten. */
  readonly maxEntries?: number | undefined;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/**
 * An in-memory {@link ReplayCache} for one process. Ids are dropped once expired. When full of
 * unexpired ids it refuses new ones (`ERR_DPOP_INVALID`) rather than forgetting old ones, since a
 * forgotten id could be replayed within its window: size `maxEntries` above the proofs a
 * process sees per proof lifetime.
 *
 * @param options - Capacity and clock.
 * @returns A cache for `createVerifier({ dpop: { replay } })`.
 *
 * @example
 * ```ts
 * import { createReplayCache, createVerifier } from 'creddy/verify';
 *
 * const verifier = createVerifier({
 *   issuer: 'https://creddy.example.com',
 *   audience: 'https://api.internal',
 *   dpop: { replay: createReplayCache({ maxEntries: 500_000 }) },
 * });
 * ```
 */
export function createReplayCache(options: ReplayCacheOptions = {}): ReplayCache {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  // Insertion order; callers pass `now + a fixed window`, so expiries ascend and the oldest
  // entries are the first to go.
  const entries = new Map<string, number>();

  const prune = (t: number) => {
    for (const [id, expiresAt] of entries) {
      if (expiresAt > t) break;
      entries.delete(id);
    }
  };

  return {
    use(id, expiresAt) {
      const t = now();
      prune(t);
      const seen = entries.get(id);
      if (seen !== undefined && seen > t) return false;
      if (entries.size >= maxEntries) {
        throw new CreddyError('ERR_DPOP_INVALID', 'DPoP replay cache is full; proof refused rather than unchecked');
      }
      entries.delete(id);
      entries.set(id, expiresAt);
      return true;
    },
  };
}
