import type { ErrorHandler } from 'hono';
import type { Logger } from '../_utils/logger.js';
import { redact } from '../_utils/redact.js';
import { isCreddyError } from '../errors.js';
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
    if (!known?.expose) {
      logger.error('request failed', {
        request_id: requestId,
        code: known?.code ?? 'ERR_INTERNAL',
        error: redact(String(err instanceof Error ? err.message : err)),
        cause: known?.cause instanceof Error ? redact(known.cause.message) : undefined,
      });
    }
    const code = known?.code ?? 'ERR_INTERNAL';
    const status = known?.status ?? 500;
    const message = known?.expose ? known.message : genericMessage(code);
    // details are client-safe by contract (CreddyError.details); docs/api.md promises details.field.
    const details = known?.expose && known.details ? { details: known.details } : {};
    if (code === 'ERR_RATE_LIMITED') c.header('Retry-After', String(known?.details?.['retry_after'] ?? 60));
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
