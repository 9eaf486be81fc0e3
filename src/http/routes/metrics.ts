import { Hono } from 'hono';
import type { Logger } from '../../_utils/logger.js';
import { CreddyError } from '../../errors.js';
import type { MetricsExposition } from '../../metrics/port.js';
import type { AppEnv } from '../context.js';

/**
 * `GET /metrics`: Prometheus text. No caller is asked for: what it shows is counts and timings
 * labelled by configured backend names, outcomes, error codes and status classes — no secret,
 * no agent or token, nothing a caller chose. A scrape that cannot be produced (the workers'
 * aggregate timed out) is a 503 and a log line.
 */
export function metricsRoutes(exposition: MetricsExposition, logger: Logger): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/metrics', async (c) => {
    let text: string;
    try {
      text = await exposition.text();
    } catch (err) {
      logger.error('metrics scrape failed', { request_id: c.get('requestId'), error: (err as Error).message });
      throw new CreddyError('ERR_NOT_READY', 'metrics are unavailable right now');
    }
    return c.body(text, 200, { 'content-type': exposition.contentType, 'cache-control': 'no-store' });
  });
  return app;
}
