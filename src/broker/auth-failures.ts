import { isIPv6 } from 'node:net';
import type { Context } from 'hono';
import { auditEvent } from '../audit/events.js';
import { CreddyError } from '../errors.js';
import { redact } from '../_utils/redact.js';
import { clientIp, type AppEnv } from './request.js';
import type { Services } from './services.js';
import type { AuthThrottle } from './throttle.js';

/** Address key for requests without a socket (app.request() in tests). */
const NO_ADDRESS = 'unknown';

/**
 * What one client is, for the throttle: an IPv4 address (also when IPv4-mapped), or the /64 an
 * IPv6 address lies in — one host commonly holds a whole /64, so per-address counting would let
 * it rotate through 2^64 addresses.
 */
export function throttleKey(ip: string | null): string {
  if (ip === null) return NO_ADDRESS;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Audits a failed authentication and returns the error to answer with: the original 401, or a
 * 429 once the client address is throttled. Only the failure that starts a block writes a row
 * (`auth.throttled`); the ones refused during it are counted and reported on the address's next
 * row, so the log stays complete without growing at the attacker's request rate.
 */
export async function recordAuthFailure(services: Services, throttle: AuthThrottle, c: Context<AppEnv>, err: CreddyError): Promise<CreddyError> {
  const ip = clientIp(c);
  const verdict = throttle.failed(throttleKey(ip), services.clock.now());
  const limited = verdict.throttled
    ? new CreddyError('ERR_RATE_LIMITED', `too many failed authentications from this address; retry in ${verdict.retryAfter}s`, {
        details: { retry_after: verdict.retryAfter },
      })
    : err;
  if (verdict.throttled && !verdict.started) return limited;
  await services.audit.write({
    event: auditEvent({
      time: services.clock.now(),
      type: verdict.throttled ? 'auth.throttled' : 'auth.failed',
      outcome: 'denied',
      actor: 'anonymous',
      reason: err.code,
      agent: typeof err.details?.['agent'] === 'string' ? err.details['agent'] : null,
      clientIp: ip,
      requestId: c.get('requestId'),
      details: {
        // The path is caller input (a pasted token as the id): capped first (redact is not
        // linear on hostile input), then redacted, before it is kept.
        method: c.req.method,
        path: redact(c.req.path.slice(0, 256)),
        ...(verdict.throttled ? { throttled_for_s: verdict.retryAfter } : {}),
        ...(verdict.refusedBefore > 0 ? { refused_while_throttled: verdict.refusedBefore } : {}),
      },
    }),
  });
  return limited;
}

/** At shutdown: one `auth.throttled` row per address whose refusals no row has reported yet. */
export async function reportThrottled(services: Services, throttle: AuthThrottle): Promise<void> {
  for (const { address, refused } of throttle.drain()) {
    await services.audit.write({
      event: auditEvent({
        time: services.clock.now(), type: 'auth.throttled', outcome: 'denied', actor: 'anonymous', reason: 'ERR_RATE_LIMITED',
        clientIp: address === NO_ADDRESS ? null : address, details: { refused_while_throttled: refused, at_shutdown: true },
      }),
    });
  }
}
