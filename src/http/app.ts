import { Hono } from 'hono';
import { createFederation, type Federation } from '../agents/federation/index.js';
import { CreddyError } from '../errors.js';
import type { MetricsExposition } from '../metrics/port.js';
import type { Services } from '../services.js';
import { type AppEnv, setResponseHeader } from './context.js';
import { errorHandler } from './error-handler.js';
import { requestId } from './middleware/request-id.js';
import { type AuthThrottle, createAuthThrottle } from './middleware/throttle.js';
import { BODY_LIMIT_BYTES, declaredLengthWithinLimit } from './read-json.js';
import { backendRoutes } from './routes/backends.js';
import { credentialRoutes } from './routes/credentials.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { oauthRoutes } from './routes/oauth.js';
import { tokenRoutes } from './routes/token.js';
import { wellKnownRoutes } from './routes/well-known.js';

export { BODY_LIMIT_BYTES };

export interface AppOptions {
  /** True once SIGTERM was received: /readyz fails so the load balancer stops routing here. */
  readonly isDraining?: () => boolean;
  /** Failed-authentication throttle; the server passes its own to report it at shutdown. */
  readonly throttle?: AuthThrottle;
  /** Federation verifier (issuer key caches); by default built from the config. */
  readonly federation?: Federation;
  /** Serve `GET /metrics` from this (metrics on the main port); absent: no such route. */
  readonly metrics?: MetricsExposition;
}

/**
 * Builds the HTTP app from its dependencies; `serve()` is separate so tests drive it with
 * `app.request()` and no open port. Middleware in order: request id, declared body size and
 * `Cache-Control: no-store` on `/v1/*`, then per route the bearer check (requireCaller: agent
 * token, client assertion or OIDC ID token); errors become `{error: {code, message, request_id}}`.
 *
 * @example
 * ```ts
 * const app = createApp(services);
 * const res = await app.request('/healthz'); // 200 {"status":"ok"}
 * ```
 */
export function createApp(services: Services, options: AppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use('/v1/*', (c, next) => {
    // Every answer here is for one caller, and an issuance carries the token and the downstream
    // secret: no cache may keep any of it (RFC 6749 §5.1 asks the same of a token response), a
    // 413 included, so first. Onto the Node response: `c.header()` would build a web Headers
    // object per request.
    setResponseHeader(c, 'Cache-Control', 'no-store');
    declaredLengthWithinLimit(c);
    return next();
  });

  app.route('/', healthRoutes(services, options.isDraining ?? (() => false)));
  if (options.metrics) app.route('/', metricsRoutes(options.metrics, services.logger));
  const throttle = options.throttle ?? createAuthThrottle(services.config.authThrottle);
  const federation =
    options.federation ??
    createFederation({ config: services.config, clock: services.clock, logger: services.logger, replay: services.store.replay });
  app.route('/', wellKnownRoutes(services));
  app.route('/', tokenRoutes(services, federation, throttle));
  app.route('/', oauthRoutes(services, federation, throttle));
  app.route('/v1/credentials', credentialRoutes(services, federation, throttle));
  app.route('/v1/backends', backendRoutes(services, federation, throttle));

  app.notFound((c) => {
    throw new CreddyError('ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`);
  });
  app.onError(errorHandler(services.logger));
  return app;
}
