import { isIPv6 } from 'node:net';
import type { Context } from 'hono';
import { cutRedacted } from '../../_utils/redact.js';
import { CreddyError } from '../../errors.js';
import { auditEvent } from '../../model/audit.js';
import type { Services } from '../../services.js';
import { type AppEnv, clientIp } from '../context.js';
import type { AuthThrottle } from './throttle.js';

/** How often refusals are summed up into one `auth.throttled` row (and once more at shutdown). */
export const THROTTLE_REPORT_MS = 10_000;

/**
 * What one client is, for the throttle: an IPv4 address (also when IPv4-mapped), or the /64 an
 * IPv6 address lies in — one host commonly holds a whole /64, so per-address counting would let
 * it rotate through 2^64 addresses. `unknown` without a socket (app.request() in tests).
 */
export function throttleKey(ip: string | null): string {
  if (ip === null) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Audits a failed authentication and returns the error to answer with: the original 401, or a
 * 429 once the throttle refuses the address (or the global budget is spent). The failure that
 * starts an address's block is one `auth.throttled` row; refused ones get no row of their own
 * and are summed up by reportThrottled.
 */
export async function recordAuthFailure(
  services: Services,
  throttle: AuthThrottle,
  c: Context<AppEnv>,
  err: CreddyError,
  /** More non-secret details for the row (federation's diagnosis of a refused ID token). */
  extra?: Record<string, unknown>,
): Promise<CreddyError> {
  // An unreachable store says nothing about the caller: counting it would throttle valid agents
  // for as long as the database is down, and there is no log to write it to anyway.
  if (err.code === 'ERR_NOT_READY') return err;
  const ip = clientIp(c);
  const verdict = throttle.failed(throttleKey(ip), services.clock.now());
  services.metrics.authFailed(err.code);
  if (verdict.kind === 'refuse') {
    services.metrics.throttled(verdict.global ? 'global' : 'address');
    return rateLimited(verdict.retryAfter, err);
  }
  if (verdict.kind === 'block') {
    services.metrics.throttleBlock();
    services.metrics.throttled('address');
  }
  await services.audit.write({
    event: auditEvent({
      time: services.clock.now(),
      type: verdict.kind === 'block' ? 'auth.throttled' : 'auth.failed',
      outcome: 'denied',
      actor: 'anonymous',
      reason: err.code,
      agent: typeof err.details?.['agent'] === 'string' ? err.details['agent'] : null,
      clientIp: ip,
      requestId: c.get('requestId'),
      details: {
        // The path is caller input (a pasted token as the id): capped first (redact is not
        // linear on hostile input), then redacted, before it is kept; a token cut at the cap
        // is masked by its prefix.
        method: c.req.method,
        path: cutRedacted(c.req.path, 256),
        // What the caller was told (a 4xx message: never a secret), so a typo, a replayed
        // assertion and a bad signature can be told apart in the log.
        why: cutRedacted(err.message, 200),
        ...(verdict.kind === 'block' ? { throttled_for_s: verdict.retryAfter } : {}),
        ...extra,
      },
    }),
  });
  return verdict.kind === 'block' ? rateLimited(verdict.retryAfter, err) : err;
}

/** The 429; `cause` keeps the real reason visible (e.g. a revoked agent that keeps retrying). */
function rateLimited(retryAfter: number, err: CreddyError): CreddyError {
  return new CreddyError('ERR_RATE_LIMITED', `too many failed authentications; retry in ${retryAfter}s`, {
    details: { retry_after: retryAfter, cause: err.code },
  });
}

/** Writes one `auth.throttled` summary row for the refusals since the last one, if any. */
export async function reportThrottled(services: Services, throttle: AuthThrottle): Promise<void> {
  const summary = throttle.drain();
  if (!summary) return;
  await services.audit.write({
    event: auditEvent({
      time: services.clock.now(),
      type: 'auth.throttled',
      outcome: 'denied',
      actor: 'anonymous',
      reason: 'ERR_RATE_LIMITED',
      details: {
        refused: summary.refused,
        addresses: summary.addresses,
        top: summary.top,
        global_budget_exhausted: summary.globalBudgetExhausted,
      },
    }),
  });
}
