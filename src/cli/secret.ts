import { readFile } from 'node:fs/promises';
import { isoSeconds } from '../_utils/clock.js';
import { formatDuration, parseDuration } from '../_utils/duration.js';
import { CreddyError } from '../errors.js';
import { generateSecretValue } from '../secrets/generate.js';
import { listSecrets, type SecretSummary, secretHistory } from '../secrets/list.js';
import { checkSecretInput, deleteSecret, putSecret, rotateSecret } from '../secrets/write.js';
import { cliPath, jsonArg, operatorArgs, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliContext, contextOf, readStdin } from './io.js';
import { printJson, printTable } from './output.js';

const iso = (seconds: number | null): string | null => (seconds === null ? null : isoSeconds(seconds));

const pathArg = { path: { type: 'positional', description: 'Secret path, e.g. prod/stripe/api-key', required: true } } as const;

/** Where a value comes from: never argv, where shell history and `ps` would keep it. */
const valueArgs = {
  'from-file': { type: 'string', description: 'Read the value from this file (verbatim)', valueHint: 'FILE' },
  'from-env': { type: 'string', description: 'Read the value from this environment variable', valueHint: 'NAME' },
  generate: { type: 'string', description: 'Generate a random value of N letters and digits; nobody sees it', valueHint: 'N' },
} as const;

interface ValueFlags {
  'from-file'?: string | undefined;
  'from-env'?: string | undefined;
  generate?: string | undefined;
}

/**
 * The value to store, from exactly one source: `--from-file`, `--from-env`, `--generate N`, or
 * standard input (one trailing newline dropped, as `echo` adds it).
 */
async function readValue(ctx: CliContext, flags: ValueFlags): Promise<{ value: string; generated: boolean }> {
  const given = (['from-file', 'from-env', 'generate'] as const).filter((k) => flags[k] !== undefined);
  if (given.length > 1) throw new CreddyError('ERR_USAGE', `give one of --${given.join(', --')}, not several`);
  if (flags.generate !== undefined) {
    if (!/^\d+$/.test(flags.generate)) throw new CreddyError('ERR_USAGE', '--generate takes a length, e.g. --generate 40');
    return { value: generateSecretValue(Number(flags.generate)), generated: true };
  }
  if (flags['from-file'] !== undefined) {
    const path = cliPath(ctx, flags['from-file']);
    const value = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new CreddyError('ERR_USAGE', `--from-file: cannot read ${path} (${err.code ?? err.message})`);
    });
    return { value, generated: false };
  }
  if (flags['from-env'] !== undefined) {
    const value = ctx.env[flags['from-env']];
    if (value === undefined) throw new CreddyError('ERR_USAGE', `--from-env: ${flags['from-env']} is not set`);
    return { value, generated: false };
  }
  const value = (await readStdin(ctx)).replace(/\r?\n$/, '');
  if (value === '') {
    throw new CreddyError('ERR_USAGE', 'no value: pipe it on standard input, or use --from-file, --from-env or --generate N');
  }
  return { value, generated: false };
}

const servedNote = (ctx: CliContext, path: string, servedBy: readonly string[]): void => {
  if (servedBy.length === 0)
    ctx.stderr.write(`creddy: warning: no secret backend's allowed_scopes cover ${path}; nobody can read it yet\n`);
};

const put = defineCommand({
  meta: { name: 'put', description: 'Store a new secret (value from stdin, --from-file, --from-env or --generate N; never argv)' },
  args: { ...pathArg, ...valueArgs, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const { value, generated } = await readValue(ctx, args);
    // Before the store is opened (`put` may create it): a bad path leaves no new deployment.
    checkSecretInput({ path: args.path, value });
    await withServices(
      ctx,
      args,
      async (services) => {
        const result = await putSecret(services, { path: args.path, value, generated, actor: 'cli' });
        if (args.json) return printJson(ctx.stdout, { path: result.path, version: result.version, served_by: result.servedBy, generated });
        servedNote(ctx, result.path, result.servedBy);
        ctx.stdout.write(`stored ${result.path} version ${result.version}${generated ? ' (generated; not shown)' : ''}\n`);
      },
      { mayCreate: true },
    );
  },
});

const rotate = defineCommand({
  meta: { name: 'rotate', description: 'Store a new version; the previous stays readable for the grace of the backends serving it' },
  args: {
    ...pathArg,
    ...valueArgs,
    grace: {
      type: 'string',
      description: 'How long the previous version stays readable (default: the backends’ grace)',
      valueHint: 'DURATION',
    },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const grace = args.grace === undefined ? undefined : parseDuration(args.grace);
    if (grace === undefined && args.grace !== undefined) throw new CreddyError('ERR_USAGE', `--grace: invalid duration "${args.grace}"`);
    const { value, generated } = await readValue(ctx, args);
    checkSecretInput({ path: args.path, value });
    await withServices(ctx, args, async (services) => {
      const result = await rotateSecret(services, {
        path: args.path,
        value,
        generated,
        actor: 'cli',
        ...(grace === undefined ? {} : { grace }),
      });
      const until = isoSeconds(result.previousReadableUntil);
      if (args.json) {
        return printJson(ctx.stdout, {
          path: result.path,
          version: result.version,
          previous_version: result.previousVersion,
          previous_readable_until: until,
          served_by: result.servedBy,
          generated,
        });
      }
      servedNote(ctx, result.path, result.servedBy);
      ctx.stdout.write(
        `rotated ${result.path} to version ${result.version}; version ${result.previousVersion} stays readable until ${until}\n`,
      );
    });
  },
});

const summaryRow = (s: SecretSummary) => ({
  path: s.path,
  version: s.version,
  created_at: isoSeconds(s.createdAt),
  created_by: s.createdBy,
  generated: s.generated,
  served_by: s.servedBy,
  max_age: s.maxAge === undefined ? null : formatDuration(s.maxAge),
  due: s.due,
  deleted_at: iso(s.deletedAt),
});

const list = defineCommand({
  meta: { name: 'list', description: 'List secret paths and versions (never values); --due: those past their max_age' },
  args: {
    prefix: { type: 'positional', description: 'Only paths starting with this', required: false },
    due: { type: 'boolean', description: 'Only secrets older than the max_age of a backend serving them' },
    deleted: { type: 'boolean', description: 'Include deleted paths' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const found = await listSecrets(services, { prefix: args.prefix ?? '', deleted: args.deleted === true });
      const rows = found.filter((s) => !args.due || s.due).map(summaryRow);
      if (args.json) return printJson(ctx.stdout, rows);
      const columns = ['path', 'version', 'created_at', 'served_by', 'max_age', 'due'] as const;
      printTable(ctx.stdout, rows, args.deleted ? [...columns, 'deleted_at'] : columns, args.due ? '(none due)' : '(no secrets)');
    });
  },
});

const history = defineCommand({
  meta: { name: 'history', description: 'Every version of a secret: when written, by whom, until when readable (never values)' },
  args: { ...pathArg, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const rows = (await secretHistory(services, args.path)).map((v) => ({
        version: v.version,
        created_at: isoSeconds(v.createdAt),
        created_by: v.createdBy,
        generated: v.generated,
        superseded_at: iso(v.supersededAt),
        readable_until: iso(v.readableUntil),
        erased: v.erased,
        deleted_at: iso(v.deletedAt),
      }));
      if (args.json) return printJson(ctx.stdout, rows);
      printTable(ctx.stdout, rows, [
        'version',
        'created_at',
        'created_by',
        'generated',
        'superseded_at',
        'readable_until',
        'erased',
        'deleted_at',
      ]);
    });
  },
});

const remove = defineCommand({
  meta: { name: 'delete', description: 'Delete a secret: its values are erased at once, its history stays (audited)' },
  args: { ...pathArg, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const result = await deleteSecret(services, { path: args.path, actor: 'cli' });
      if (args.json) return printJson(ctx.stdout, { path: result.path, version: result.version, deleted_at: isoSeconds(result.deletedAt) });
      ctx.stdout.write(`deleted ${result.path} (was at version ${result.version}); its values are erased\n`);
    });
  },
});

export const secretCommand = defineCommand({
  meta: { name: 'secret', description: 'Store, rotate, list and delete the secrets that type: secret backends hand out' },
  subCommands: { put, rotate, list, history, delete: remove },
});
