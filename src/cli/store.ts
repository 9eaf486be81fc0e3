import { defineCommand } from 'citty';
import { configPath, loadConfig } from '../config/load.js';
import { migrateStore } from '../store/migrate-store.js';
import { jsonArg, operatorArgs } from './context.js';
import { printJson } from './output.js';

const migrate = defineCommand({
  meta: {
    name: 'migrate',
    description: 'Bring the store schema up to this version of creddy (PostgreSQL; SQLite migrates itself on open)',
  },
  args: {
    ...operatorArgs,
    'runtime-role': {
      type: 'string',
      description: "Then grant this PostgreSQL role the server's privileges (INSERT/SELECT only on the audit tables)",
      valueHint: 'ROLE',
    },
    ...jsonArg,
  },
  async run({ args }) {
    // No services: a server's checks (schema version, keys) would refuse the very store we fix.
    const config = loadConfig(configPath(args.config));
    const role = args['runtime-role'];
    const result = await migrateStore(config.store, role === undefined ? {} : { runtimeRole: role });
    if (args.json) return printJson(result);
    const where = config.store.kind === 'postgres' ? config.store.display : config.store.path;
    process.stdout.write(
      result.from === result.to
        ? `${where}: schema already at version ${result.to}\n`
        : `${where}: schema migrated from version ${result.from} to ${result.to}\n`,
    );
    if (result.runtimeRole) process.stdout.write(`${where}: runtime role "${result.runtimeRole}" granted its privileges\n`);
  },
});

/** `creddy store …`: schema migrations (and copying a deployment between stores). */
export const storeCommand = defineCommand({
  meta: { name: 'store', description: 'Manage the store: schema migrations' },
  subCommands: { migrate },
});
