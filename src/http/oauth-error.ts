import type { ErrorHandler } from 'hono';
import type { Logger } from '../_utils/logger.js';
import { redact } from '../_utils/redact.js';
import { type CreddyError, type ErrorCode, isCreddyError } from '../errors.js';
import type { OAuthErrorBody } from '../wire.js';
import type { AppEnv } from './context.js';

/** creddy codes → RFC 6749 §5.2 / RFC 8693 §2.2.2 error codes, all 400 but for the 429 and 5xx ones. */
const OAUTH_ERRORS: Partial<Record<ErrorCode, OAuthErrorBody['error']>> = {
  ERR_GRANT_TYPE_UNSUPPORTED: 'unsupported_grant_type',
  ERR_ID_TOKEN_INVALID: 'invalid_grant',
  ERR_ID_TOKEN_EXPIRED: 'invalid_grant',
  ERR_ID_TOKEN_REPLAYED: 'invalid_grant',
  ERR_FEDERATION_NO_MATCH: 'invalid_grant',
  ERR_UNAUTHENTICATED: 'invalid_grant',
  ERR_SCOPE_INVALID: 'invalid_scope',
  ERR_SCOPE_DENIED: 'invalid_scope',
  ERR_SCOPES_TOO_LARGE: 'invalid_scope',
  ERR_BACKEND_UNKNOWN: 'invalid_target',
  ERR_BACKEND_FORBIDDEN: 'invalid_target',
  ERR_AGENT_REVOKED: 'invalid_client',
  ERR_DPOP_INVALID: 'invalid_dpop_proof',
  ERR_FORBIDDEN: 'unauthorized_client',
};

/** Errors of client authentication (RFC 6749 §2.3), answered `invalid_client` with 401 (§5.2). */
const clientAuthFailures = new WeakSet<CreddyError>();

/**
 * Marks a refused client authentication — a key-pair agent's assertion at the token endpoint, the
 * agent calling introspection or revocation — so the handler answers `401 invalid_client` rather
 * than the `400 invalid_grant` of a refused grant. A 429 from the throttle stays a 429.
 */
export function clientAuthFailure(err: CreddyError): CreddyError {
  clientAuthFailures.add(err);
  return err;
}

/**
 * The OAuth endpoints' error handler: `{error, error_description, code, request_id}` with
 * `Cache-Control: no-store`. Client errors are 400 as RFC 6749 §5.2 asks, but for a failed client
 * authentication: `401 invalid_client` with a `WWW-Authenticate` challenge; the throttle's 429
 * keeps `Retry-After`; 5xx bodies are generic and the cause is logged under the request id, as
 * everywhere else.
 */
export function oauthErrorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return (err, c) => {
    const requestId = c.get('requestId');
    const known = isCreddyError(err) ? err : undefined;
    const code = known?.code ?? 'ERR_INTERNAL';
    if (!known?.expose) {
      logger.error('request failed', { request_id: requestId, code, error: redact(String(err instanceof Error ? err.message : err)) });
    }
    const status = known?.status ?? 500;
    let error: OAuthErrorBody['error'];
    let httpStatus: number;
    if (status === 429) {
      [error, httpStatus] = ['temporarily_unavailable', 429];
      c.header('Retry-After', String(known?.details?.['retry_after'] ?? 60));
    } else if (status === 401 && known && clientAuthFailures.has(known)) {
      [error, httpStatus] = ['invalid_client', 401];
      c.header('WWW-Authenticate', 'Bearer realm="creddy"');
    } else if (status < 500) {
      [error, httpStatus] = [OAUTH_ERRORS[code] ?? 'invalid_request', 400];
    } else {
      [error, httpStatus] = [status === 503 ? 'temporarily_unavailable' : 'server_error', status];
    }
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    const body: OAuthErrorBody = {
      error,
      error_description: known?.expose ? known.message : 'internal error; see the server log under this request id',
      code,
      request_id: requestId,
    };
    return c.json(body, httpStatus as 400);
  };
}
