import { cliConfig, jsonArg, operatorArgs } from './context.js';
import { defineCommand } from './define-command.js';
import type { ChildExit } from './exec.js';
import { contextOf } from './io.js';
import { formatAddress, listenAddress } from './listen.js';

/** A wildcard listen address is reached on loopback from the same machine (or container). */
const reachable = (host: string): string => (host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host);

export const healthCommand = defineCommand({
  meta: {
    name: 'health',
    description:
      "Ask the local server's /readyz (exit 0 when ready): the address is the server's own, --listen > CREDDY_PORT > listen: in the config",
  },
  args: {
    ...operatorArgs,
    listen: { type: 'string', description: 'The address the server was given with --listen', valueHint: 'HOST:PORT' },
    url: { type: 'string', description: 'Ask this base URL instead', valueHint: 'URL' },
    ...jsonArg,
  },
  async run({ args, data }): Promise<ChildExit | undefined> {
    const ctx = contextOf(data);
    let base = args.url?.replace(/\/+$/, '');
    if (base === undefined) {
      // The config is read only when --listen does not give the whole address.
      const address = listenAddress(args.listen, ctx.env, () => cliConfig(ctx, args.config));
      base = `http://${formatAddress({ ...address, host: reachable(address.host) })}`;
    }
    let status = 0;
    let body: unknown;
    try {
      const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(4000) });
      status = response.status;
      body = await response.json().catch(() => undefined);
    } catch (err) {
      body = { error: `cannot reach ${base}: ${(err as Error).message}` };
    }
    const ready = status === 200;
    if (args.json) ctx.stdout.write(`${JSON.stringify({ url: `${base}/readyz`, ready, status, body })}\n`);
    else
      ctx.stdout.write(
        `${ready ? 'ready' : 'not ready'}: ${base}/readyz ${status || ''} ${JSON.stringify(body ?? null)}\n`.replace('  ', ' '),
      );
    return ready ? undefined : { exitCode: 1 };
  },
});
