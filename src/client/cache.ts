import { CreddyError } from '../errors.js';
import type { IssueResponse } from '../wire.js';
import type { CredentialRequest } from './request.js';

/** Options of {@link createCredentialCache}: when a cached credential counts as about to expire, and how many are kept. */
export interface CredentialCacheOptions {
  /** Refresh when less than this fraction of the lifetime is left (default 0.2; 0 to 1). */
  readonly refreshFraction?: number | undefined;
  /** …or when fewer than this many seconds are left, whichever comes first (default 60). */
  readonly refreshSeconds?: number | undefined;
  /**
   * The most credentials kept at once (default 1000). Past it the least recently used one is
   * forgotten (it is issued again if asked for); credentials too close to expiry to be handed out
   * are forgotten anyway.
   */
  readonly maxEntries?: number | undefined;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  readonly now?: (() => number) | undefined;
}

/** Hands out credentials, reusing one until shortly before it expires. */
export interface CredentialCache {
  /**
   * A credential for this request: a cached one while it is fresh, else a new one from the
   * broker. Requests with the same backend, scopes (in any order), TTL, metadata and params
   * share one entry. Failures are not cached.
   */
  get(request: CredentialRequest): Promise<IssueResponse>;
  /**
   * Forgets every cached credential and every request in flight (e.g. after the agent token
   * changed): no credential asked for before `clear()` is handed to a `get` made after it.
   */
  clear(): void;
  /**
   * Forgets the cached credential with this id (`IssueResponse.id`), e.g. one revoked or refused
   * as `invalid_token` by a resource server: the next `get` for its request asks the broker
   * again. Returns whether one was cached.
   */
  invalidate(id: string): boolean;
}

interface Entry {
  readonly credential: IssueResponse;
  /** From then on it is not handed out (the refresh margin), so it can go. */
  readonly refreshAt: number;
}

/**
 * A caller-side cache in the spirit of octokit/auth-app: credentials are reused until a margin
 * before expiry (so a token never expires mid-request), and identical concurrent requests share
 * one in-flight promise instead of each asking the broker. The margin counts from the earlier of
 * the JWT's and the downstream credential's expiry. `createCreddyClient` keeps one of these
 * behind its `get` and `fetch`; use this directly to cache over any `issue` function.
 *
 * Memory stays bounded however many distinct requests pass through (one-off `metadata` per task,
 * say): a credential is dropped once it is inside its refresh margin (it would never be handed
 * out again), expired ones are swept out every so often (O(1) amortised per `get`), and at most
 * `maxEntries` are kept, least recently used first out.
 *
 * @param client - Anything that issues credentials, e.g. a client from `createCreddyClient`.
 * @param options - The refresh margin (default: the last 20 % of the lifetime, at least 60 s), the capacity.
 * @returns A cache; keep one per client.
 * @throws A {@link CreddyError} `ERR_USAGE` for an option out of range.
 *
 * @example
 * ```ts
 * import { createCreddyClient, createCredentialCache } from 'creddy/client';
 *
 * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', auth: process.env.CREDDY_TOKEN ?? '' });
 * const cache = createCredentialCache(client, { refreshSeconds: 120 });
 * // Call before every use: one request to the broker per credential lifetime.
 * const { token } = await cache.get({ backend: 'demo', scopes: ['read'] });
 * ```
 */
export function createCredentialCache(
  client: { issue(request: CredentialRequest): Promise<IssueResponse> },
  options: CredentialCacheOptions = {},
): CredentialCache {
  const fraction = checked(options.refreshFraction, 0.2, 0, 1, 'refreshFraction');
  const margin = checked(options.refreshSeconds, 60, 0, 365 * 86_400, 'refreshSeconds');
  const maxEntries = checked(options.maxEntries, 1000, 1, 1_000_000, 'maxEntries');
  if (!Number.isInteger(maxEntries)) throw new CreddyError('ERR_USAGE', 'createCredentialCache: maxEntries must be a whole number');
  const now = options.now ?? Date.now;
  /** Least recently used first: a hit moves its entry to the end. */
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<IssueResponse>>();
  /** Bumped by clear(): an issuance that started before it is not cached after it. */
  let generation = 0;
  let storedSinceSweep = 0;

  const keyOf = (request: CredentialRequest): string =>
    JSON.stringify([
      request.backend,
      [...(request.scopes ?? [])].sort(),
      request.ttl ?? null,
      request.metadata ?? null,
      request.params ?? null,
    ]);

  const store = (key: string, entry: Entry) => {
    entries.delete(key);
    entries.set(key, entry);
    // A full pass once per half the cache's size in new entries: O(1) amortised per entry.
    if (++storedSinceSweep >= Math.max(64, entries.size / 2)) {
      storedSinceSweep = 0;
      const t = now();
      for (const [k, e] of entries) if (t >= e.refreshAt) entries.delete(k);
    }
    for (const oldest of entries.keys()) {
      if (entries.size <= maxEntries) break;
      entries.delete(oldest);
    }
  };

  return {
    async get(request) {
      const key = keyOf(request);
      const cached = entries.get(key);
      if (cached) {
        entries.delete(key);
        if (now() < cached.refreshAt) {
          entries.set(key, cached);
          return cached.credential;
        }
      }
      const pending = inFlight.get(key);
      if (pending) return pending;
      const started = generation;
      const promise = client
        .issue(request)
        .then((credential) => {
          const expiresAt = Date.parse(credential.credential?.expires_at ?? credential.expires_at);
          const lifetime = Math.min(expiresAt, Date.parse(credential.expires_at)) - now();
          const early = Math.max(lifetime * fraction, margin * 1000);
          const refreshAt = now() + Math.max(0, lifetime - early);
          // An unreadable expiry is never reused; one from before clear() is not kept after it.
          if (Number.isFinite(refreshAt) && refreshAt > now() && started === generation) store(key, { credential, refreshAt });
          return credential;
        })
        .finally(() => {
          if (inFlight.get(key) === promise) inFlight.delete(key);
        });
      inFlight.set(key, promise);
      return promise;
    },
    clear() {
      generation++;
      entries.clear();
      inFlight.clear();
    },
    invalidate(id) {
      let found = false;
      for (const [key, entry] of entries) {
        if (entry.credential.id !== id) continue;
        entries.delete(key);
        found = true;
      }
      return found;
    },
  };
}

function checked(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new CreddyError('ERR_USAGE', `createCredentialCache: ${name} must be ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

// The TSDoc above links to CreddyError, and a link in the emitted .d.ts resolves only to a name
// that file imports, which it does only for names its declarations use: this keeps it there.
export type { CreddyError };
