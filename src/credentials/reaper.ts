import { nowSeconds } from '../_utils/clock.js';
import type { CredentialRecord } from '../model/credential.js';
import type { Services } from '../services.js';
import { DOWNSTREAM_LEASE_S, revokeDownstream } from './revoke.js';

/** How often the reaper looks for downstream credentials to revoke. One indexed query when idle. */
export const REAPER_INTERVAL_MS = 5_000;
/** Rows handled per pass, so one pass after a long outage cannot monopolise the process. */
export const REAPER_BATCH = 100;
/** Rows claimed at a time: few enough that their downstream calls finish well inside the lease. */
export const REAPER_CLAIM = 5;
/** How often backends' own housekeeping (`Backend.sweep`: leftover roles, values past their grace) runs; also at start. */
export const SWEEP_INTERVAL_MS = 60_000;

export interface Reaper {
  /** One pass: revokes what is due; resolves with how many were revoked. Never throws. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Revokes downstream credentials that outlive their creddy credential: a GitHub installation
 * token lives an hour whatever creddy's TTL, so when the creddy credential expires (or its
 * revocation failed earlier) the reaper kills the token. All state is in the store — the handle
 * and `downstream_revoked_at` — so a restart loses nothing: the first pass runs at start and
 * picks up whatever fell due while the server was down. Replicas sharing a database claim rows
 * with a lease (`claimDueForDownstreamRevocation`), so each due credential is revoked once, and a
 * replica that dies mid-pass only delays its rows by the lease. A revocation that fails keeps its
 * lease too: it is retried when the lease runs out, by whichever replica claims it first.
 */
export function startReaper(services: Services, options: { intervalMs?: number; leaseSeconds?: number } = {}): Reaper {
  const intervalMs = options.intervalMs ?? REAPER_INTERVAL_MS;
  const leaseSeconds = options.leaseSeconds ?? DOWNSTREAM_LEASE_S;
  let running: Promise<number> | undefined;
  let stopped = false;
  let nextSweepAt = Number.NEGATIVE_INFINITY;

  const pass = async (): Promise<number> => {
    let revoked = 0;
    for (let handled = 0; handled < REAPER_BATCH && !stopped; ) {
      const batch = await claim();
      if (batch.length === 0) break;
      handled += batch.length;
      revoked += await reap(batch);
    }
    await sweep();
    return revoked;
  };

  // After the revocations, so a sweep never races the reaper for a row it is about to revoke.
  const sweep = async (): Promise<void> => {
    const nowMs = services.clock.now();
    if (nowMs < nextSweepAt) return;
    nextSweepAt = nowMs + SWEEP_INTERVAL_MS;
    for (const [name, backend] of services.backends) {
      if (!backend.sweep || stopped) continue;
      await backend.sweep(Math.floor(nowMs / 1000)).catch((err: unknown) => {
        services.logger.warn('backend sweep failed; it runs again in a minute', { backend: name, error: (err as Error).message });
      });
    }
  };

  const claim = () => {
    const now = nowSeconds(services.clock);
    return services.store.credentials.claimDueForDownstreamRevocation(now, REAPER_CLAIM, now + leaseSeconds);
  };

  const reap = async (due: readonly CredentialRecord[]): Promise<number> => {
    let revoked = 0;
    for (const record of due) {
      // A stopping reaper leaves the rest of its claim to the lease: another replica (or this one
      // after a restart) takes them over when it runs out.
      if (stopped) break;
      const now = nowSeconds(services.clock);
      // Past the downstream credential's own expiry there is nothing left to kill, unless the
      // backend says it outlives it (a database role's open sessions outlive VALID UNTIL).
      const downstreamExp = record.downstream?.expiresAt ? Date.parse(record.downstream.expiresAt) / 1000 : Number.NaN;
      if (downstreamExp <= now && services.backends.get(record.backend)?.revokeAfterExpiry !== true) {
        await services.store.credentials.markDownstreamRevoked(record.jti, now);
        continue;
      }
      const reason = record.revokedAt ? 'revoked' : 'expired';
      if ((await revokeDownstream(services, record, { actor: 'reaper', requestId: null, reason })) === 'revoked') {
        revoked++;
        services.logger.info('downstream credential revoked', { jti: record.jti, backend: record.backend, reason });
      }
    }
    return revoked;
  };

  const runOnce = (): Promise<number> => {
    // One pass at a time: a slow downstream must not stack passes that revoke the same rows.
    running ??= pass()
      .catch((err: unknown) => {
        services.logger.error('reaper pass failed', { error: String(err) });
        return 0;
      })
      .finally(() => (running = undefined));
    return running;
  };

  void runOnce();
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
