import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateDirIfMissing, writePrivateFile } from '../_utils/fs.js';
import { CreddyError } from '../errors.js';
import { cliPath } from './context.js';
import { defineCommand } from './define-command.js';
import { contextOf } from './io.js';

/** The config `creddy init` writes: a working broker with one generic backend named `demo`. */
export function demoConfig(port: number): string {
  return `# creddy configuration — see config.example.yaml for every key.
issuer: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
data_dir: ./data
store: sqlite

backends:
  demo:
    type: generic              # the signed JWT is the credential
    audience: demo
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write]
    default_scopes: [read]
`;
}

export const initCommand = defineCommand({
  meta: { name: 'init', description: 'Write a working ./creddy.yaml (generic backend "demo") and the data dir' },
  args: {
    dir: { type: 'string', description: 'Directory to initialise (default: .)', valueHint: 'DIR' },
    port: { type: 'string', description: 'Port to listen on (default: $CREDDY_PORT or 8400)', valueHint: 'PORT' },
    force: { type: 'boolean', description: 'Overwrite an existing creddy.yaml' },
    'if-missing': { type: 'boolean', description: 'Do nothing (exit 0) when creddy.yaml exists' },
  },
  run({ args, data }) {
    const ctx = contextOf(data);
    const dir = cliPath(ctx, args.dir ?? '.');
    const port = Number(args.port ?? ctx.env['CREDDY_PORT'] ?? 8400);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new CreddyError('ERR_USAGE', '--port must be 1-65535');
    const path = join(dir, 'creddy.yaml');
    if (existsSync(path) && !args.force) {
      if (args['if-missing']) return;
      throw new CreddyError('ERR_USAGE', `${path} exists; use --force to overwrite`);
    }
    // Only what init creates gets its modes: the directory it runs in (often a repository) is left alone.
    createPrivateDirIfMissing(dir);
    createPrivateDirIfMissing(join(dir, 'data'));
    try {
      // --force replaces the name: a creddy.yaml that is a symlink is replaced, not written through.
      writePrivateFile(path, demoConfig(port), { overwrite: args.force === true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Created by someone else since the check above.
      if (args['if-missing']) return;
      throw new CreddyError('ERR_USAGE', `${path} exists; use --force to overwrite`);
    }
    ctx.stdout.write(`wrote ${path}\nnext: creddy server --config ${path}\n`);
  },
});
