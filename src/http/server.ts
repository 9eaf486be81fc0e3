import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { startReaper } from '../credentials/reaper.js';
import { createRotationSchedule } from '../keys/schedule.js';
import type { MetricsExposition } from '../metrics/port.js';
import type { Services } from '../services.js';
import { createApp } from './app.js';
import { drainable } from './drain.js';
import { withJwksFastPath } from './jwks-response.js';
import { capConnections, httpServerOptions } from './limits.js';
import { type MetricsServer, metricsListenError, startMetricsServer } from './metrics-server.js';
import { reportThrottled, THROTTLE_REPORT_MS } from './middleware/auth-failures.js';
import { createAuthThrottle } from './middleware/throttle.js';

/** How often the keyring re-reads the store, so a CLI rotation is served within a second. */
export const KEY_REFRESH_MS = 1000;

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Where `metrics_listen` serves /metrics, when this process serves it there. */
  readonly metricsUrl: string | undefined;
  /** Stops accepting, drains in-flight requests, flushes the audit log, closes the store. */
  stop(): Promise<void>;
}

/**
 * Serves the app on `host:port` (port 0 picks a free one) and runs the background work: key
 * refresh and the rotation schedule (every second), audit checkpoints, and the downstream reaper.
 */
export async function startServer(
  services: Services,
  listen: { host: string; port: number },
  /**
   * `reaperIntervalMs`: tests shorten the downstream reaper's period. `responseHeaders`: set on
   * every response (a worker of `--workers` names its pid). `metrics`: the text of `GET /metrics`,
   * served where `metrics_listen` says (on the main port by default); `ownListener: false` in a
   * worker of `--workers`, whose primary serves `metrics_listen`. `drainIdleMs`: how long a
   * connection must have been idle before a drain closes it (DRAIN_IDLE_MS; tests with no racing
   * client pass 0).
   */
  options: {
    reaperIntervalMs?: number;
    responseHeaders?: Readonly<Record<string, string>>;
    metrics?: { readonly exposition: MetricsExposition; readonly ownListener?: boolean };
    drainIdleMs?: number;
  } = {},
): Promise<RunningServer> {
  let draining = false;
  const throttle = createAuthThrottle(services.config.authThrottle);
  const where = services.config.metricsListen;
  const onMainPort = options.metrics && where.kind === 'main' ? { metrics: options.metrics.exposition } : {};
  const app = createApp(services, { isDraining: () => draining, throttle, ...onMainPort });
  // The app behind a listener that answers the JWKS from memory first (http/jwks-response.ts).
  const listener = withJwksFastPath(services, getRequestListener(app.fetch, { hostname: listen.host }));
  const server = createHttpServer(httpServerOptions(services.config.http), listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  capConnections(server, services.config.http, services.logger);
  const connections = drainable(server, () => draining, options.drainIdleMs);
  const { port } = server.address() as AddressInfo;
  const extraHeaders = Object.entries(options.responseHeaders ?? {});
  if (extraHeaders.length > 0) {
    // Before the app's listener, so the headers merge into whatever the app writes.
    server.prependListener('request', (_req, res) => {
      for (const [name, value] of extraHeaders) res.setHeader(name, value);
    });
  }
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let metricsServer: MetricsServer | undefined;
  if (options.metrics && where.kind === 'own' && options.metrics.ownListener !== false) {
    try {
      metricsServer = await startMetricsServer(where, options.metrics.exposition, {
        logger: services.logger,
        limits: services.config.http,
      });
    } catch (err) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw metricsListenError(err, where);
    }
  }

  const schedule = createRotationSchedule(services);
  const refresh = setInterval(() => {
    services.keyring
      .refresh()
      .then(() => schedule.tick())
      .catch((err: unknown) => services.logger.error('key refresh or scheduled rotation failed', { error: String(err) }));
  }, KEY_REFRESH_MS);
  refresh.unref();
  // Replicas on PostgreSQL hear of a key transition at its commit; the poll above is the fallback.
  const unwatchKeys = services.store.keys.watch?.(() => {
    services.keyring.refresh().catch((err: unknown) => services.logger.error('key refresh failed', { error: String(err) }));
  });
  services.auditCheckpoints.start();
  const report = (): Promise<void> =>
    reportThrottled(services, throttle).catch((err: unknown) =>
      services.logger.error('could not audit throttled refusals', { error: String(err) }),
    );
  const throttleReport = setInterval(() => void report(), THROTTLE_REPORT_MS);
  throttleReport.unref();
  const reaper = startReaper(services, options.reaperIntervalMs === undefined ? {} : { intervalMs: options.reaperIntervalMs });

  services.logger.info('creddy listening', { url: `http://${host}:${port}`, issuer: services.config.issuer });
  return {
    url: `http://${host}:${port}`,
    port,
    metricsUrl: metricsServer?.url,
    async stop() {
      draining = true;
      clearInterval(refresh);
      clearInterval(throttleReport);
      await unwatchKeys?.();
      await Promise.all([connections.drain(), metricsServer?.close()]);
      await reaper.stop();
      await report();
      await services.auditCheckpoints.stop();
      await services.close();
    },
  };
}
