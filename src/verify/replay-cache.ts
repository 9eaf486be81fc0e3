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

/** Ids are filed and forgotten in slots of this many ms: within 0.1 s of their expiry, never before it. */
const SLOT_MS = 100;

/**
 * An in-memory {@link ReplayCache} for one process. Ids are dropped within 0.1 s of their
 * expiry, whatever order they expire in (two verifiers with different `dpop.maxAge` sharing one
 * cache, client assertions with their own `exp`, a clock stepped back). When full of unexpired
 * ids it refuses new ones (`ERR_DPOP_INVALID`) rather than forgetting old ones, since a forgotten
 * id could be replayed within its window: size `maxEntries` above the proofs a process sees per
 * proof lifetime. Each call costs O(1) amortised: an id is filed once under the 0.1 s slot it
 * expires in and dropped with that slot, and slots are visited once as the clock passes them (or,
 * after a long pause, only the slots that hold ids).
 *
 * @param options - Capacity and clock.
 * @returns A cache for `createVerifier({ dpop: { replay } })`.
 * @throws A {@link CreddyError} `ERR_USAGE` when `maxEntries` is not a positive whole number.
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
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new CreddyError('ERR_USAGE', `createReplayCache: maxEntries must be a positive whole number, got ${String(maxEntries)}`);
  }
  const now = options.now ?? Date.now;
  /** id → when it expires. */
  const entries = new Map<string, number>();
  /** Expiry slot → the ids filed under it (an id re-used after expiry may be listed twice). */
  const slots = new Map<number, string[]>();
  /** Every slot before this one has been dropped. */
  let cursor = Number.NEGATIVE_INFINITY;

  const drop = (slot: number, t: number) => {
    for (const id of slots.get(slot) ?? []) if ((entries.get(id) ?? t) <= t) entries.delete(id);
    slots.delete(slot);
  };
  /** Drops the slots wholly in the past: walking the slots passed since the last call, or the filled ones if fewer. */
  const prune = (t: number) => {
    const until = Math.floor(t / SLOT_MS); // slots before this one have fully expired
    if (until <= cursor) return;
    if (until - cursor > slots.size) {
      for (const slot of [...slots.keys()]) if (slot < until) drop(slot, t);
    } else {
      for (let slot = cursor; slot < until; slot++) drop(slot, t);
    }
    cursor = until;
  };

  return {
    use(id, expiresAt) {
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
        throw new CreddyError('ERR_USAGE', 'ReplayCache.use: expiresAt must be a time in ms since the epoch');
      }
      const t = now();
      prune(t);
      const seen = entries.get(id);
      if (seen !== undefined && seen > t) return false;
      if (seen === undefined && entries.size >= maxEntries) {
        throw new CreddyError('ERR_DPOP_INVALID', 'DPoP replay cache is full; proof refused rather than unchecked');
      }
      const slot = Math.floor(expiresAt / SLOT_MS);
      // A clock stepped back files ids under slots already passed: walk from there again.
      if (slot < cursor) cursor = slot;
      entries.set(id, expiresAt);
      if (seen !== undefined && Math.floor(seen / SLOT_MS) === slot) return true; // filed there already
      const ids = slots.get(slot);
      if (ids) ids.push(id);
      else slots.set(slot, [id]);
      return true;
    },
  };
}

// The TSDoc above links to CreddyError, and a link in the emitted .d.ts resolves only to a name
// that file imports, which it does only for names its declarations use: this keeps it there.
export type { CreddyError };
