import { CreddyError } from '../errors.js';
import type { CliIo } from './io.js';

/** Flags shared by operator commands. */
export const operatorArgs = {
  config: {
    type: 'string',
    description: 'Config file (default: $CREDDY_CONFIG_YAML, else $CREDDY_CONFIG, else ./creddy.yaml)',
    valueHint: 'PATH',
  },
} as const;

/** `--json` for read commands. */
export const jsonArg = { json: { type: 'boolean', description: 'Print JSON for scripts' } } as const;

/** Reads a required environment variable for caller commands. */
export function requireEnv(ctx: Pick<CliIo, 'env'>, name: 'CREDDY_URL' | 'CREDDY_TOKEN'): string {
  const value = ctx.env[name];
  if (!value) throw new CreddyError('ERR_USAGE', `${name} is not set (export ${name}=…)`);
  return value;
}
