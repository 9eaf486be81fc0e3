import type { Logger } from '../_utils/logger.js';
import type { Config } from '../config/types.js';
import { type MetricsServer, metricsListenError, startMetricsServer } from '../http/metrics-server.js';
import type { Metrics, MetricsExposition } from '../metrics/port.js';

/*
 * The server's metrics, per `metrics_listen`. prom-client is imported only here and only when
 * metrics are on, so every other command (and `metrics_listen: off`) never loads it.
 */

/** A server process's metrics and the text its /metrics serves. */
export interface ServerMetrics {
  readonly metrics: Metrics;
  readonly exposition: MetricsExposition;
}

/**
 * The metrics of one serving process; undefined when `metrics_listen: off`. In a worker of
 * `--workers` the exposition is the primary's aggregate of every worker.
 */
export async function serverMetrics(config: Config, logger: Logger, inCluster: boolean): Promise<ServerMetrics | undefined> {
  if (config.metricsListen.kind === 'off') return undefined;
  const { createPrometheusMetrics } = await import('../metrics/prometheus.js');
  const metrics = createPrometheusMetrics({
    backends: [...config.backends].map(([name, { common }]) => ({ name, type: common.type })),
    logger,
  });
  if (!inCluster) return { metrics, exposition: metrics.exposition };
  const { joinClusterMetrics } = await import('../metrics/cluster.js');
  return { metrics, exposition: joinClusterMetrics(metrics.registry) };
}

/** The primary's side of `--workers`: the sum over the workers, served on `metrics_listen` when it names an address. */
export interface PrimaryMetrics {
  /** Where `metrics_listen` serves it; undefined when the workers serve it on the main port. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

/** Starts aggregating before any worker is forked; undefined when `metrics_listen: off`. */
export async function primaryMetrics(config: Config, logger: Logger): Promise<PrimaryMetrics | undefined> {
  const where = config.metricsListen;
  if (where.kind === 'off') return undefined;
  const { aggregateWorkerMetrics } = await import('../metrics/cluster.js');
  const aggregate = aggregateWorkerMetrics();
  let server: MetricsServer | undefined;
  if (where.kind === 'own') {
    try {
      server = await startMetricsServer(where, aggregate, { logger, limits: config.http });
    } catch (err) {
      aggregate.close();
      throw metricsListenError(err, where);
    }
  }
  return {
    url: server?.url,
    async close() {
      aggregate.close();
      await server?.close();
    },
  };
}
