import { createLogger, type Logger } from '../_utils/logger.js';
import { isCreddyError } from '../errors.js';
import { startServer } from '../http/server.js';
import { createServices, type Services } from '../services.js';
import { cliConfig, operatorArgs } from './context.js';
import { defineCommand } from './define-command.js';
import type { ChildExit } from './exec.js';
import { contextOf } from './io.js';
import { listenAddress, listenError } from './listen.js';
import { serverMetrics } from './metrics.js';
import { routeProcessWarnings } from './process-warnings.js';
import { runPrimary, workerIdentity, workerLogger } from './workers.js';

export const serverCommand = defineCommand({
  meta: { name: 'server', description: 'Run the broker (SIGTERM/SIGINT drain in-flight requests, then exit)' },
  args: {
    ...operatorArgs,
    listen: {
      type: 'string',
      description: 'Listen on HOST:PORT (port 0 = any free port); overrides CREDDY_PORT, which overrides listen: in the config',
      valueHint: 'HOST:PORT',
    },
    workers: {
      type: 'string',
      description: 'Processes serving the port, each a full replica of the store (auto = one per CPU; default 1)',
      valueHint: 'N|auto',
    },
  },
  async run({ args, data, rawArgs }): Promise<ChildExit | undefined> {
    const ctx = contextOf(data);
    // --workers N: this process only supervises N workers, which run this command again (workers.ts).
    if (await runPrimary(ctx, args, rawArgs)) return undefined;
    const worker = workerIdentity();
    const write = (line: string): void => void ctx.stderr.write(`${line}\n`);
    // Every line on the server's stderr is JSON, a failure to start included.
    let logger: Logger = workerLogger(createLogger(write));
    let services: Services | undefined;
    let restoreWarnings = (): void => {};
    try {
      const config = cliConfig(ctx, args.config);
      logger = workerLogger(createLogger(write, { level: config.logLevel }));
      restoreWarnings = routeProcessWarnings(logger);
      const listen = listenAddress(args.listen, ctx.env, () => config);
      const metrics = await serverMetrics(config, logger, worker !== undefined);
      services = await createServices(config, { env: ctx.env, logger, actor: 'server', ...(metrics ? { metrics: metrics.metrics } : {}) });
      const server = await startServer(services, listen, {
        ...(worker ? { responseHeaders: { 'creddy-worker': String(worker.pid) } } : {}),
        // A worker's primary serves metrics_listen (the sum over all workers).
        ...(metrics ? { metrics: { exposition: metrics.exposition, ownListener: !worker } } : {}),
      }).catch((err: unknown) => {
        throw listenError(err, listen, config.source);
      });
      // Machine-readable first line on stdout, so scripts and tests can find an ephemeral port
      // (with --workers, the primary prints it once every worker listens).
      if (!worker) ctx.stdout.write(`creddy listening on ${server.url}\n`);
      if (server.metricsUrl) ctx.stdout.write(`creddy metrics on ${server.metricsUrl}/metrics\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string): void => {
          // A terminal's Ctrl-C reaches a worker directly, and again as the primary's SIGTERM.
          if (stopping) return;
          stopping = true;
          logger.info('draining', { signal });
          server.stop().then(resolve, (err: unknown) => {
            logger.error('shutdown failed', { error: String(err) });
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      return undefined;
    } catch (err) {
      // Started services are closed by server.stop(); these never got that far.
      await services?.close().catch(() => undefined);
      const code = isCreddyError(err) ? err.code : 'ERR_INTERNAL';
      logger.error(`cannot start: ${code}: ${(err as Error).message}`, {
        code,
        ...(isCreddyError(err) && err.details ? { details: err.details } : {}),
      });
      return { exitCode: code === 'ERR_USAGE' ? 2 : 1 };
    } finally {
      restoreWarnings();
    }
  },
});
