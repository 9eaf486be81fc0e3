import type { Config } from '../config/types.js';
import { CreddyError } from '../errors.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Where the server listens: `--listen HOST:PORT`, else `CREDDY_PORT` (the port only; the host
 * stays the config's), else the config's `listen`. `config` is called only when the flag does not
 * give the whole address, so `creddy health --listen` works without a readable config.
 */
export function listenAddress(flag: string | undefined, env: NodeJS.ProcessEnv, config: () => Pick<Config, 'listen'>): ListenAddress {
  if (flag !== undefined) {
    const colon = flag.lastIndexOf(':');
    const host = flag.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = parsePort(flag.slice(colon + 1));
    if (colon <= 0 || host === '' || port === undefined)
      throw new CreddyError('ERR_USAGE', `--listen must be HOST:PORT (port 0-65535), got "${flag}"`);
    return { host, port };
  }
  const fromEnv = env['CREDDY_PORT'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const port = parsePort(fromEnv);
    if (port === undefined) throw new CreddyError('ERR_USAGE', `CREDDY_PORT must be a port number 0-65535, got "${fromEnv}"`);
    return { host: config().listen.host, port };
  }
  return config().listen;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65_535 ? port : undefined;
}

/** `host:port` as typed (IPv6 in brackets). */
export const formatAddress = ({ host, port }: ListenAddress): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** A listen failure, said so that the operator knows what to change. */
export function listenError(err: unknown, address: ListenAddress, configSource: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = formatAddress(address);
  const how = `pick another with --listen HOST:PORT, CREDDY_PORT=PORT, or listen: in ${configSource}`;
  switch (code) {
    case 'EADDRINUSE':
      return new CreddyError('ERR_LISTEN_FAILED', `${where} is already in use (another creddy, or another program); ${how}`, {
        cause: err,
      });
    case 'EACCES':
      return new CreddyError('ERR_LISTEN_FAILED', `not permitted to listen on ${where} (ports below 1024 need privileges); ${how}`, {
        cause: err,
      });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new CreddyError('ERR_LISTEN_FAILED', `${address.host} is not an address of this machine; ${how}`, { cause: err });
    default:
      return err;
  }
}
