import { formatDuration } from '../_utils/duration.js';
import { cliConfig, jsonArg, operatorArgs } from './context.js';
import { defineCommand } from './define-command.js';
import { contextOf } from './io.js';
import { printJson, printTable } from './output.js';

const list = defineCommand({
  meta: { name: 'list', description: 'List configured backends (reads the config only)' },
  args: { ...operatorArgs, ...jsonArg },
  run({ args, data }) {
    const ctx = contextOf(data);
    const config = cliConfig(ctx, args.config);
    const rows = [...config.backends.values()].map(({ common }) => ({
      name: common.name,
      type: common.type,
      default_ttl: formatDuration(common.defaultTtl),
      max_ttl: formatDuration(common.maxTtl),
      allowed_scopes: common.allowedScopes,
      default_scopes: common.defaultScopes,
      description: common.description ?? null,
    }));
    if (args.json) return printJson(ctx.stdout, rows);
    printTable(ctx.stdout, rows, ['name', 'type', 'default_ttl', 'max_ttl', 'allowed_scopes'], '(no backends configured)');
  },
});

export const backendCommand = defineCommand({
  meta: { name: 'backend', description: 'Inspect configured backends' },
  subCommands: { list },
});
