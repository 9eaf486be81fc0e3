import { defineCommand } from 'citty';
import { createLogger } from '../_utils/logger.js';
import { startServer } from '../http/server.js';
import { createServices } from '../services.js';
import { cliConfig, operatorArgs } from './context.js';
import { contextOf } from './io.js';

export const serverCommand = defineCommand({
  meta: { name: 'server', description: 'Run the broker (SIGTERM/SIGINT drain in-flight requests, then exit)' },
  args: {
    ...operatorArgs,
    listen: { type: 'string', description: 'Override listen address HOST:PORT (port 0 = any free port)', valueHint: 'HOST:PORT' },
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const logger = createLogger((line) => ctx.stderr.write(`${line}\n`));
    const config = cliConfig(ctx, args.config);
    const services = await createServices(config, { env: ctx.env, logger, actor: 'server' });
    let listen = config.listen;
    if (args.listen) {
      const [host, port] = [
        args.listen.slice(0, args.listen.lastIndexOf(':')),
        Number(args.listen.slice(args.listen.lastIndexOf(':') + 1)),
      ];
      listen = { host: host.replace(/^\[|\]$/g, ''), port };
    }
    const server = await startServer(services, listen);
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
  },
});
