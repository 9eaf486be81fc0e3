import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import { configPath, loadConfig, parseConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { CreddyError } from '../errors.js';
import { createServices, type Services } from '../services.js';
import type { CliContext, CliIo, CliOutput } from './io.js';

// Light definitions live in flags.ts, so caller commands load without the config parser and services.
export { jsonArg, operatorArgs, requireEnv } from './flags.js';

/**
 * Logger for CLI processes: warnings (like the dev-KEK warning) go to stderr once, as a plain
 * line, so stdout stays clean for `--json` and pipes.
 */
export function cliLogger(stderr: CliOutput): Logger {
  const seen = new Set<string>();
  const warn = (msg: string): void => {
    if (seen.has(msg)) return;
    seen.add(msg);
    stderr.write(`creddy: warning: ${msg}\n`);
  };
  return { info() {}, warn, error: (msg) => stderr.write(`creddy: ${msg}\n`) };
}

/** A path from a flag, relative to the run's working directory. */
export function cliPath(ctx: Pick<CliIo, 'cwd'>, path: string): string {
  return resolve(ctx.cwd, path);
}

/**
 * Loads the operator's config: `--config PATH`, else the YAML in `CREDDY_CONFIG_YAML` itself (a
 * container configured by environment alone; relative paths start at the working directory),
 * else `CREDDY_CONFIG`, else `./creddy.yaml`.
 */
export function cliConfig(ctx: Pick<CliIo, 'env' | 'cwd'>, flag: string | undefined): Config {
  const inline = ctx.env['CREDDY_CONFIG_YAML'];
  if (flag === undefined && inline !== undefined && inline !== '')
    return parseConfig(inline, 'CREDDY_CONFIG_YAML', ctx.env, { base: ctx.cwd });
  return loadConfig(configPath(flag, ctx.env, ctx.cwd), ctx.env);
}

/** How a command treats a SQLite store that is not there yet. */
export interface ServicesUse {
  /**
   * Only `agent create`, `secret put` and `keys rotate` may be a deployment's first command
   * (before any server started) and create its store. Every other command works on what is there: were the database
   * missing (a wrong --config, a relative data_dir read from another directory), opening it would
   * make a new, empty deployment with a development KEK, and `agent list` would say "(no agents)".
   */
  readonly mayCreate?: boolean;
  /**
   * Checks the command's flags against the config before the store is opened (or created): a bad
   * flag is reported as such (ERR_USAGE), not as a missing database, and never leaves a new store.
   */
  readonly check?: (config: Config) => void;
}

/**
 * Refuses a SQLite store that is not there (see ServicesUse): for every command that opens the
 * store, through withServices or on its own (`audit verify`, `store copy`), which would otherwise
 * create an empty one and report on it.
 */
export function requireExistingStore(config: Config): void {
  if (config.store.kind === 'sqlite' && !existsSync(config.store.path)) {
    throw new CreddyError(
      'ERR_CONFIG_INVALID',
      `no database at ${config.store.path}: is this the deployment's config (--config, CREDDY_CONFIG, the working directory)? creddy server, agent create, secret put or keys rotate makes a new one`,
    );
  }
}

/** Opens the server's store and keys with the operator's config, runs `fn`, closes everything. */
export async function withServices<T>(
  ctx: CliContext,
  args: { config?: string | undefined },
  fn: (services: Services) => Promise<T>,
  use: ServicesUse = {},
): Promise<T> {
  const config = cliConfig(ctx, args.config);
  use.check?.(config);
  if (!use.mayCreate) requireExistingStore(config);
  const services = await createServices(config, { env: ctx.env, logger: cliLogger(ctx.stderr), actor: 'cli' });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}
