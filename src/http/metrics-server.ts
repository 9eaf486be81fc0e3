import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../_utils/logger.js';
import type { HttpLimitsConfig } from '../config/types.js';
import { CreddyError } from '../errors.js';
import type { MetricsExposition } from '../metrics/port.js';
import type { AppEnv } from './context.js';
import { errorHandler } from './error-handler.js';
import { capConnections, httpServerOptions } from './limits.js';
import { requestId } from './middleware/request-id.js';
import { metricsRoutes } from './routes/metrics.js';

/** The `metrics_listen` server: `GET /metrics` and nothing else. */
export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `exposition` on an address of its own (`metrics_listen`), with the main server's
 * timeouts and connection caps; every other path is a 404. Rejects with the listen error
 * (EADDRINUSE…), which the caller turns into ERR_LISTEN_FAILED.
 */
export async function startMetricsServer(
  listen: { readonly host: string; readonly port: number },
  exposition: MetricsExposition,
  deps: { readonly logger: Logger; readonly limits: HttpLimitsConfig },
): Promise<MetricsServer> {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.route('/', metricsRoutes(exposition, deps.logger));
  app.notFound((c) => {
    throw new CreddyError('ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path} (this address serves GET /metrics only)`);
  });
  app.onError(errorHandler(deps.logger));
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: listen.host, port: listen.port, serverOptions: httpServerOptions(deps.limits) }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  capConnections(server as Server, deps.limits, deps.logger);
  const { port } = server.address() as AddressInfo;
  const url = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`;
  deps.logger.info('metrics listening', { url: `${url}/metrics` });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as Server).closeAllConnections();
      }),
  };
}

/** A failure to listen on `metrics_listen`, said so that the operator knows which key to change. */
export function metricsListenError(err: unknown, address: { readonly host: string; readonly port: number }): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const reason =
    code === 'EADDRINUSE'
      ? 'is already in use'
      : code === 'EACCES'
        ? 'is not permitted (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? 'is not an address of this machine'
          : undefined;
  if (reason === undefined) return err;
  return new CreddyError(
    'ERR_LISTEN_FAILED',
    `metrics_listen ${where} ${reason}; pick another in the config, or leave it out to serve /metrics on the main port`,
    {
      cause: err,
    },
  );
}
