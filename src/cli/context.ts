import type { Logger } from '../_utils/logger.js';
import { configPath, loadConfig } from '../config/load.js';
import { CreddyError } from '../errors.js';
import { createServices, type Services } from '../services.js';

/** Flags shared by operator commands. */
export const operatorArgs = {
  config: { type: 'string', description: 'Config file (default: $CREDDY_CONFIG or ./creddy.yaml)', valueHint: 'PATH' },
} as const;

/** `--json` for read commands. */
export const jsonArg = { json: { type: 'boolean', description: 'Print JSON for scripts' } } as const;

/**
 * Logger for CLI processes: warnings (like the dev-KEK warning) go to stderr once, as a plain
 * line, so stdout stays clean for `--json` and pipes.
 */
export function cliLogger(): Logger {
  const seen = new Set<string>();
  const warn = (msg: string): void => {
    if (seen.has(msg)) return;
    seen.add(msg);
    process.stderr.write(`creddy: warning: ${msg}\n`);
  };
  return { info() {}, warn, error: (msg) => process.stderr.write(`creddy: ${msg}\n`) };
}

/** Opens the server's store and keys with the operator's config, runs `fn`, closes everything. */
export async function withServices<T>(args: { config?: string | undefined }, fn: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig(configPath(args.config));
  const services = await createServices(config, { logger: cliLogger(), actor: 'cli' });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

/** Reads a required environment variable for caller commands. */
export function requireEnv(name: 'CREDDY_URL' | 'CREDDY_TOKEN'): string {
  const value = process.env[name];
  if (!value) throw new CreddyError('ERR_USAGE', `${name} is not set (export ${name}=…)`);
  return value;
}

/** Reads all of standard input (empty on a terminal: nothing is being piped in). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
