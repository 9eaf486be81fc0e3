import { formatDuration } from '../_utils/duration.js';
import { postgresStore } from '../config/store.js';
import { CreddyError } from '../errors.js';
import { type CopyOutcome, copyStore } from '../store/copy-store.js';
import { migrateStore } from '../store/migrate-store.js';
import { cliConfig, jsonArg, operatorArgs, requireExistingStore } from './context.js';
import { defineCommand } from './define-command.js';
import { contextOf } from './io.js';
import { printJson } from './output.js';
import { countOf, progressOf } from './progress.js';

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
  async run({ args, data }) {
    const ctx = contextOf(data);
    // No services: a server's checks (schema version, keys) would refuse the very store we fix.
    const config = cliConfig(ctx, args.config);
    const role = args['runtime-role'];
    // The config's retention becomes the database's floor, which only this (owner's) run can set.
    const result = await migrateStore(config.store, {
      retentionFloor: config.audit.retention,
      ...(role === undefined ? {} : { runtimeRole: role }),
    });
    if (args.json) {
      const { runtimeRole, retentionFloor, ...rest } = result;
      return printJson(ctx.stdout, {
        ...rest,
        ...(runtimeRole === undefined ? {} : { runtime_role: runtimeRole }),
        ...(retentionFloor === undefined ? {} : { retention_floor_seconds: retentionFloor }),
      });
    }
    const where = config.store.kind === 'postgres' ? config.store.display : config.store.path;
    ctx.stdout.write(
      result.from === result.to
        ? `${where}: schema already at version ${result.to}\n`
        : `${where}: schema migrated from version ${result.from} to ${result.to}\n`,
    );
    if (result.runtimeRole) ctx.stdout.write(`${where}: runtime role "${result.runtimeRole}" granted its privileges\n`);
    if (result.retentionFloor !== undefined) {
      ctx.stdout.write(
        result.retentionFloor === null
          ? `${where}: audit rows are never pruned (no audit.retention in ${config.source}; pruning is refused)\n`
          : `${where}: audit retention floor ${formatDuration(result.retentionFloor)} (no audit row younger is ever deleted)\n`,
      );
    }
  },
});

const copy = defineCommand({
  meta: {
    name: 'copy',
    description:
      'Copy this SQLite deployment (keys, agents and their public keys, credentials, secret versions, audit log) into an empty PostgreSQL database',
  },
  args: {
    ...operatorArgs,
    to: {
      type: 'string',
      description: 'Target: postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass)',
      required: true,
      valueHint: 'URL',
    },
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const config = cliConfig(ctx, args.config);
    requireExistingStore(config);
    const target = postgresStore(args.to, 1, (problem) => {
      throw new CreddyError('ERR_USAGE', `--to: ${problem}`);
    });
    const progress = progressOf(ctx);
    let outcome: CopyOutcome;
    try {
      outcome = await copyStore(config.store, target, {
        onProgress: (done, total) => progress.update(() => `copying ${countOf(done, total, 'rows')}`),
      });
    } finally {
      progress.done();
    }
    const { copied, head } = outcome;
    // The head `audit verify` must print on the target (docs/deploy.md, "Upgrading from SQLite").
    const headText = head === undefined ? null : `${head.seq}:${head.hash}`;
    const to = target.kind === 'postgres' ? target.display : '';
    if (args.json) return printJson(ctx.stdout, { to, copied, head: headText });
    const summary = Object.entries(copied)
      .map(([table, n]) => `${n} ${table}`)
      .join(', ');
    ctx.stdout.write(`copied into ${to}: ${summary}\n`);
    ctx.stdout.write(
      headText === null
        ? 'head none (the audit log is empty)\n'
        : `head ${headText} (audit verify on the target must print the same head)\n`,
    );
  },
});

/** `creddy store …`: schema migrations and copying a deployment into PostgreSQL. */
export const storeCommand = defineCommand({
  meta: { name: 'store', description: 'Manage the store: schema migrations, copy SQLite into PostgreSQL' },
  subCommands: { migrate, copy },
});
