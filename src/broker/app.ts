import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { CreddyError, isCreddyError } from '../errors.js';
import { redact } from '../_utils/redact.js';
import { newRequestId, type AppEnv } from './request.js';
import type { Services } from './services.js';
import { credentialRoutes } from './routes/credentials.js';
import { healthRoutes } from './routes/health.js';
import { wellKnownRoutes } from './routes/well-known.js';
import { createAuthThrottle, type AuthThrottle } from './throttle.js';

/** Largest request body accepted; an issue request is a few hundred bytes. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AppOptions {
  /** True once SIGTERM was received: /readyz fails so the load balancer stops routing here. */
  readonly isDraining?: () => boolean;
  /** Failed-authentication throttle; the server passes its own to report it at shutdown. */
  readonly throttle?: AuthThrottle;
}

/**
 * Builds the HTTP app from its dependencies; `serve()` is separate so tests drive it with
 * `app.request()` and no open port. Errors become `{error: {code, message, request_id}}`; a 5xx
 * never carries internal detail.
 */
export function createApp(services: Services, options: AppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    c.set('requestId', newRequestId());
    c.header('X-Request-Id', c.get('requestId'));
    c.header('X-Content-Type-Options', 'nosniff');
    await next();
  });
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new CreddyError('ERR_BODY_TOO_LARGE', `request body exceeds ${BODY_LIMIT_BYTES} bytes`);
      },
    }),
  );

  app.route('/', healthRoutes(services, options.isDraining ?? (() => false)));
  app.route('/', wellKnownRoutes(services));
  app.route('/v1/credentials', credentialRoutes(services, options.throttle ?? createAuthThrottle(services.config.authThrottle)));

  app.notFound((c) => {
    throw new CreddyError('ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`);
  });

  app.onError((err, c) => {
    const requestId = c.get('requestId');
    const known = isCreddyError(err) ? err : undefined;
    if (!known || !known.expose) {
      services.logger.error('request failed', {
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
    return c.json({ error: { code, message, request_id: requestId, ...details } }, status as 500);
  });

  return app;
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
