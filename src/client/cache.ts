import type { IssueResponse } from '../wire.js';
import type { CreddyClient, CredentialRequest } from './client.js';

export interface CredentialCacheOptions {
  /** Refresh when less than this fraction of the lifetime is left (default 0.2). */
  readonly refreshFraction?: number;
  /** …or when fewer than this many seconds are left, whichever comes first (default 60). */
  readonly refreshSeconds?: number;
  readonly now?: () => number;
}

/** Hands out credentials, reusing one until shortly before it expires. */
export interface CredentialCache {
  get(request: CredentialRequest): Promise<IssueResponse>;
  /** Forgets every cached credential (e.g. after the agent token changed). */
  clear(): void;
}

/**
 * A caller-side cache in the spirit of octokit/auth-app: credentials are reused until a margin
 * before expiry (so a token never expires mid-request), and identical concurrent requests share
 * one in-flight promise instead of each asking the broker.
 */
export function createCredentialCache(client: CreddyClient, options: CredentialCacheOptions = {}): CredentialCache {
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
