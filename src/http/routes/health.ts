import { Hono } from 'hono';
import { withDeadline } from '../../_utils/deadline.js';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { AppEnv } from '../context.js';

/**
 * Liveness (the process answers) and readiness (the store can take a write now, signing key
 * loaded, not draining). The store probe is bounded by `audit.write_timeout`, the longest a request
 * would wait for the store, so a store that went silent answers not-ready in time instead of
 * holding the health check open; concurrent checks (several load balancer nodes) share one probe.
 */
export function healthRoutes(services: Services, isDraining: () => boolean): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const timeoutMs = services.config.audit.writeTimeout * 1000;
  let probing: Promise<boolean> | undefined;
  const storeReady = (): Promise<boolean> =>
    (probing ??= withDeadline(
      services.store.ping(),
      timeoutMs,
      () => new CreddyError('ERR_NOT_READY', `the store did not answer within ${timeoutMs} ms`),
    )
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        probing = undefined;
      }));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks = { store: 'ok', signing_key: 'ok', draining: isDraining() };
    if (!(await storeReady())) checks.store = 'unavailable';
    try {
      services.keyring.signer();
    } catch {
      checks.signing_key = 'missing';
    }
    const ready = checks.store === 'ok' && checks.signing_key === 'ok' && !checks.draining;
    return c.json({ status: ready ? 'ready' : 'not_ready', checks }, ready ? 200 : 503);
  });
  return app;
}
