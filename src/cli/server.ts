import { defineCommand } from 'citty';
import { createLogger } from '../_utils/logger.js';
import { startServer } from '../http/server.js';
import { createServices } from '../services.js';
import { cliConfig, operatorArgs } from './context.js';
import { contextOf } from './io.js';
import { runPrimary, workerIdentity, workerLogger } from './workers.js';

export const serverCommand = defineCommand({
  meta: { name: 'server', description: 'Run the broker (SIGTERM/SIGINT drain in-flight requests, then exit)' },
  args: {
    ...operatorArgs,
    listen: { type: 'string', description: 'Override listen address HOST:PORT (port 0 = any free port)', valueHint: 'HOST:PORT' },
    workers: {
      type: 'string',
      description: 'Processes serving the port, each a full replica of the store (auto = one per CPU; default 1)',
      valueHint: 'N|auto',
    },
  },
  async run({ args, data, rawArgs }) {
    const ctx = contextOf(data);
    // --workers N: this process only supervises N workers, which run this command again (workers.ts).
    if (await runPrimary(ctx, args, rawArgs)) return;
    const worker = workerIdentity();
    const logger = workerLogger(createLogger((line) => ctx.stderr.write(`${line}\n`)));
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
    const server = await startServer(services, listen, worker ? { responseHeaders: { 'creddy-worker': String(worker.pid) } } : {});
    // Machine-readable first line on stdout, so scripts and tests can find an ephemeral port
    // (with --workers, the primary prints it once every worker listens).
    if (!worker) ctx.stdout.write(`creddy listening on ${server.url}\n`);
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
  },
});
