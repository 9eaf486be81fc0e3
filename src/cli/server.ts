import { defineCommand } from 'citty';
import { createLogger, type Logger } from '../_utils/logger.js';
import { isCreddyError } from '../errors.js';
import { startServer } from '../http/server.js';
import { createServices, type Services } from '../services.js';
import { cliConfig, operatorArgs } from './context.js';
import type { ChildExit } from './exec.js';
import { contextOf } from './io.js';
import { listenAddress, listenError } from './listen.js';
import { routeProcessWarnings } from './process-warnings.js';

export const serverCommand = defineCommand({
  meta: { name: 'server', description: 'Run the broker (SIGTERM/SIGINT drain in-flight requests, then exit)' },
  args: {
    ...operatorArgs,
    listen: {
      type: 'string',
      description: 'Listen on HOST:PORT (port 0 = any free port); overrides CREDDY_PORT, which overrides listen: in the config',
      valueHint: 'HOST:PORT',
    },
  },
  async run({ args, data }): Promise<ChildExit | undefined> {
    const ctx = contextOf(data);
    const write = (line: string): void => void ctx.stderr.write(`${line}\n`);
    // Every line on the server's stderr is JSON, a failure to start included.
    let logger: Logger = createLogger(write);
    let services: Services | undefined;
    let restoreWarnings = (): void => {};
    try {
      const config = cliConfig(ctx, args.config);
      logger = createLogger(write, { level: config.logLevel });
      restoreWarnings = routeProcessWarnings(logger);
      const listen = listenAddress(args.listen, ctx.env, config);
      services = await createServices(config, { env: ctx.env, logger, actor: 'server' });
      const server = await startServer(services, listen).catch((err: unknown) => {
        throw listenError(err, listen, config.source);
      });
      // Machine-readable first line on stdout, so scripts and tests can find an ephemeral port.
      ctx.stdout.write(`creddy listening on ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
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
