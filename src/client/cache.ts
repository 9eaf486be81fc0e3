import type { IssueResponse } from '../wire.js';
import type { CredentialRequest } from './request.js';

/** Options of {@link createCredentialCache}: when a cached credential counts as about to expire. */
export interface CredentialCacheOptions {
  /** Refresh when less than this fraction of the lifetime is left (default 0.2). */
  readonly refreshFraction?: number | undefined;
  /** …or when fewer than this many seconds are left, whichever comes first (default 60). */
  readonly refreshSeconds?: number | undefined;
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
  /** Forgets every cached credential (e.g. after the agent token changed). */
  clear(): void;
}

/**
 * A caller-side cache in the spirit of octokit/auth-app: credentials are reused until a margin
 * before expiry (so a token never expires mid-request), and identical concurrent requests share
 * one in-flight promise instead of each asking the broker. The margin counts from the earlier of
 * the JWT's and the downstream credential's expiry. `createCreddyClient` keeps one of these
 * behind its `get` and `fetch`; use this directly to cache over any `issue` function.
 *
 * @param client - Anything that issues credentials, e.g. a client from `createCreddyClient`.
 * @param options - The refresh margin (default: the last 20 % of the lifetime, at least 60 s).
 * @returns A cache; keep one per client.
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
  const fraction = options.refreshFraction ?? 0.2;
  const margin = options.refreshSeconds ?? 60;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { credential: IssueResponse; refreshAt: number }>();
  const inFlight = new Map<string, Promise<IssueResponse>>();

  const keyOf = (request: CredentialRequest): string =>
    JSON.stringify([
      request.backend,
      [...(request.scopes ?? [])].sort(),
      request.ttl ?? null,
      request.metadata ?? null,
      request.params ?? null,
    ]);

  return {
    async get(request) {
      const key = keyOf(request);
      const cached = entries.get(key);
      if (cached && now() < cached.refreshAt) return cached.credential;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const promise = client
        .issue(request)
        .then((credential) => {
          const expiresAt = Date.parse(credential.credential?.expires_at ?? credential.expires_at);
          const lifetime = Math.min(expiresAt, Date.parse(credential.expires_at)) - now();
          const early = Math.max(lifetime * fraction, margin * 1000);
          entries.set(key, { credential, refreshAt: now() + Math.max(0, lifetime - early) });
          return credential;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
    clear: () => entries.clear(),
  };
}
