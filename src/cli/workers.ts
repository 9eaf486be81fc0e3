import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createLogger, type Logger } from '../_utils/logger.js';
import { CreddyError } from '../errors.js';
import { createServices } from '../services.js';
import { cliConfig } from './context.js';
import type { CliContext } from './io.js';
import { primaryMetrics } from './metrics.js';
import { superviseWorkers } from './supervise-workers.js';

/**
 * `creddy server --workers N`: N processes serving one port, each a full replica of the same
 * store. node:cluster rather than SO_REUSEPORT: Node 20 cannot set SO_REUSEPORT (`reusePort`
 * came in Node 22.12), cluster's round-robin hands each new connection to the next worker
 * (the kernel's SO_REUSEPORT hash spreads a few long keep-alive connections unevenly), and the
 * primary that owns the listening socket is the natural supervisor. The primary serves nothing
 * itself; it only accepts connections and passes them on.
 */

/** `--workers`: a positive integer, or `auto` for the available parallelism; 1 when absent. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  if (value === 'auto') return availableParallelism();
  if (!/^[1-9]\d{0,3}$/.test(value) || Number(value) > 1024) {
    throw new CreddyError('ERR_USAGE', `--workers: expected a number from 1 to 1024 or auto, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** This process's place in a worker set, or undefined when it is not a cluster worker. */
export function workerIdentity(): { readonly worker: number; readonly pid: number } | undefined {
  return cluster.isWorker && cluster.worker ? { worker: cluster.worker.id, pid: process.pid } : undefined;
}

/** In a worker, `logger` with the worker's id and pid on every line; else `logger` itself. */
export function workerLogger(logger: Logger): Logger {
  const identity = workerIdentity();
  return identity ? withFields(logger, identity) : logger;
}

/**
 * The primary's side of `creddy server --workers N`: false (serve in this process) in a worker
 * or for N = 1. Otherwise opens the store once — migrations, the first keys, the KEK check, so a
 * broken setup fails here and once, not in N crashing workers — closes it, and supervises the
 * workers until they have all stopped; then true.
 */
export async function runPrimary(
  ctx: CliContext,
  args: { readonly config?: string | undefined; readonly workers?: string | undefined },
  rawArgs: readonly string[],
): Promise<boolean> {
  if (cluster.isWorker) return false;
  const count = parseWorkers(args.workers);
  if (count === 1) return false;
  const logger = createLogger((line) => ctx.stderr.write(`${line}\n`));
  const config = cliConfig(ctx, args.config);
  await (await createServices(config, { env: ctx.env, logger, actor: 'server' })).close();
  const primaryLogger = withFields(logger, { role: 'primary', pid: process.pid });
  // Each worker counts its own; the primary answers scrapes with the sum (metrics/cluster.ts).
  const metrics = await primaryMetrics(config, primaryLogger);
  try {
    await superviseWorkers({
      count,
      argv: ['server', ...rawArgs],
      cwd: ctx.cwd,
      env: ctx.env,
      logger: primaryLogger,
      onListening: (url) => {
        ctx.stdout.write(`creddy listening on ${url}\n`);
        if (metrics?.url) ctx.stdout.write(`creddy metrics on ${metrics.url}/metrics\n`);
      },
    });
  } finally {
    await metrics?.close();
  }
  return true;
}

/** A logger that adds `fields` to every line. */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    info: (msg, f) => logger.info(msg, { ...fields, ...f }),
    warn: (msg, f) => logger.warn(msg, { ...fields, ...f }),
    error: (msg, f) => logger.error(msg, { ...fields, ...f }),
  };
}

/** A worker whose command has returned leaves the cluster: its IPC channel would keep the process alive. */
export function leaveCluster(): void {
  if (cluster.isWorker) cluster.worker?.disconnect();
}
