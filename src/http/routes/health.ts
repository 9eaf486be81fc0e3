import { Hono } from 'hono';
import type { Services } from '../../services.js';
import type { AppEnv } from '../context.js';

/** Liveness (the process answers) and readiness (store reachable, signing key loaded, not draining). */
export function healthRoutes(services: Services, isDraining: () => boolean): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks = { store: 'ok', signing_key: 'ok', draining: isDraining() };
    try {
      await services.store.ping();
    } catch {
      checks.store = 'unavailable';
    }
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
