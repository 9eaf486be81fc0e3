import type { ErrorHandler } from 'hono';
import { describeError } from '../_utils/error-chain.js';
import type { Logger } from '../_utils/logger.js';
import { isCreddyError } from '../errors.js';
import { DPOP_ALGORITHMS } from '../verify/dpop.js';
import type { ErrorBody } from '../wire.js';
import type { AppEnv } from './context.js';

/**
 * Turns any error into `{error: {code, message, request_id}}` with the code's status. A 5xx never
 * carries internal detail: the cause is logged (redacted) under the request id instead.
 */
export function errorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return (err, c) => {
    const requestId = c.get('requestId');
    const known = isCreddyError(err) ? err : undefined;
    // Every 5xx is logged with its cause chain under the request id, including those whose
    // message the caller may see (an upstream failure): the response says what, the log says why.
    if (!known?.expose || known.status >= 500) {
      logger.error('request failed', { request_id: requestId, code: known?.code ?? 'ERR_INTERNAL', error: describeError(err) });
    }
    const code = known?.code ?? 'ERR_INTERNAL';
    const status = known?.status ?? 500;
    const message = known?.expose ? known.message : genericMessage(code);
    // details are client-safe by contract (CreddyError.details); docs/api.md promises details.field.
    const details = known?.expose && known.details ? { details: known.details } : {};
    if (code === 'ERR_RATE_LIMITED') c.header('Retry-After', String(known?.details?.['retry_after'] ?? 60));
    // RFC 6750 §3: a 401 names the scheme; `invalid_token` only when a credential was presented.
    // A refused DPoP proof is not a bad token (RFC 9449 §7.1): a client told `invalid_token`
    // would throw away one that is fine.
    if (status === 401 && !c.res.headers.has('WWW-Authenticate')) {
      const presented = c.req.header('authorization') !== undefined;
      c.header(
        'WWW-Authenticate',
        code === 'ERR_DPOP_INVALID'
          ? `DPoP error="invalid_dpop_proof", algs="${DPOP_ALGORITHMS.join(' ')}"`
          : `Bearer realm="creddy"${presented ? ', error="invalid_token"' : ''}`,
      );
    }
    const body: ErrorBody = { error: { code, message, request_id: requestId, ...details } };
    return c.json(body, status as 500);
  };
}

function genericMessage(code: string): string {
  switch (code) {
    case 'ERR_AUDIT_UNAVAILABLE':
      return 'audit log unavailable; no credential was issued';
    case 'ERR_BACKEND_UPSTREAM':
      return 'the downstream service failed; no credential was issued';
    case 'ERR_NOT_READY':
      return 'server not ready';
    default:
      return 'internal error';
  }
}
