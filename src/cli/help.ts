import { CreddyError } from '../errors.js';
import { defineCommand } from './define-command.js';
import { jsonArg } from './flags.js';
import { contextOf } from './io.js';
import { printJson } from './output.js';
import { styleFor } from './style.js';
import { resolveCommand } from './tree.js';
import { renderUsage } from './usage.js';
import { VERSION } from './version.js';

export const helpCommand = defineCommand({
  meta: { name: 'help', description: 'Show help for creddy or for a command: creddy help agent create' },
  args: { command: { type: 'positional', description: 'The command (several words for a subcommand)', required: false } },
  async run({ rawArgs, data }) {
    const ctx = contextOf(data);
    const words = rawArgs.filter((w) => w !== '--');
    const { cmd, path } = resolveCommand(await ctx.loadTree(words.slice(0, 1)), words);
    if (path.length < words.length) throw new CreddyError('ERR_USAGE', `unknown command "${[...path, words[path.length]].join(' ')}"`);
    ctx.stdout.write(renderUsage(cmd, path, styleFor(ctx.stdout, ctx.env)));
  },
});

export const versionCommand = defineCommand({
  meta: { name: 'version', description: 'Print the version of creddy (and of Node with --json)' },
  args: { ...jsonArg },
  run({ args, data }) {
    const ctx = contextOf(data);
    if (args.json) return printJson(ctx.stdout, { version: VERSION, node: process.versions.node });
    ctx.stdout.write(`${VERSION}\n`);
  },
});
