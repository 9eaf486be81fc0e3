import { systemClock } from '../_utils/clock.js';
import { formatDuration } from '../_utils/duration.js';
import { type PruneIdle, pruneAudit, unrecordedFacts } from '../audit/retention.js';
import { rowToJson } from '../audit/row-json.js';
import { CreddyError } from '../errors.js';
import { AUDIT_TYPES, type AuditOutcome, type AuditRow } from '../model/audit.js';
import type { Services } from '../services.js';
import type { AuditFilter } from '../store/port.js';
import { auditVerifyCommands } from './audit-verify.js';
import { jsonArg, operatorArgs, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliOutput, contextOf } from './io.js';
import { escapeUnprintable, formatTable, isoTime, printJson, printTable } from './output.js';
import { pruneProgress } from './prune-progress.js';
import { timeRangeArgs, timeRangeFromArgs } from './time-range.js';

const OUTCOMES: readonly AuditOutcome[] = ['success', 'denied', 'error'];

/** The filter flags of `audit list`. */
export const auditFilterArgs = {
  backend: { type: 'string', description: 'Only this backend', valueHint: 'NAME' },
  agent: { type: 'string', description: 'Only this agent', valueHint: 'NAME' },
  type: { type: 'string', description: 'Only this event type (credential.issued, credential.denied, …)', valueHint: 'TYPE' },
  jti: { type: 'string', description: 'Only events of this credential id', valueHint: 'ID' },
  outcome: { type: 'string', description: 'success | denied | error', valueHint: 'OUTCOME' },
  rule: { type: 'string', description: 'Only events of this federation rule (federated issuances and refusals)', valueHint: 'NAME' },
  'run-id': { type: 'string', description: 'Only events of this CI run (GitHub Actions run_id, GitLab pipeline_id)', valueHint: 'ID' },
  ...timeRangeArgs,
  limit: { type: 'string', description: 'At most N events (1-10000)', default: '100', valueHint: 'N' },
} as const;

export function filterFromArgs(args: Record<string, unknown>, now: number): AuditFilter {
  const limit = Number(args['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new CreddyError('ERR_USAGE', '--limit must be 1-10000');
  const outcome = args['outcome'] as string | undefined;
  if (outcome !== undefined && !OUTCOMES.includes(outcome as AuditOutcome))
    throw new CreddyError('ERR_USAGE', `--outcome must be one of ${OUTCOMES.join(', ')}`);
  // A typo would match nothing and look like a quiet log.
  const type = args['type'] as string | undefined;
  if (type !== undefined && !(AUDIT_TYPES as readonly string[]).includes(type))
    throw new CreddyError('ERR_USAGE', `--type must be one of ${AUDIT_TYPES.join(', ')}`);
  const pick = (key: string): Record<string, string> => (typeof args[key] === 'string' ? { [key]: args[key] as string } : {});
  return {
    ...pick('backend'),
    ...pick('agent'),
    ...pick('type'),
    ...pick('jti'),
    ...pick('rule'),
    ...(typeof args['run-id'] === 'string' ? { runId: args['run-id'] } : {}),
    ...(outcome ? { outcome: outcome as AuditOutcome } : {}),
    ...timeRangeFromArgs(args, now),
    limit,
  };
}

/** An audit row as printed by `--json`: ISO time, snake_case, chain fields included. */
export function auditJson(row: AuditRow): Record<string, unknown> {
  return { ...rowToJson(row), time: isoTime(row.time) };
}

const TABLE_COLUMNS = ['seq', 'time', 'type', 'outcome', 'agent', 'backend', 'scopes', 'reason', 'jti'] as const;

/** Column widths of `--follow`'s text: a seq, an ISO time, the longest type and reason, a jti. */
const FOLLOW_WIDTHS = { seq: 6, time: 20, type: 18, outcome: 7, agent: 12, backend: 10, scopes: 12, reason: 22, jti: 31 };

/** How often `--follow` polls for new rows. */
const FOLLOW_POLL_MS = 500;

/** Rows per `--follow` query; a full page is followed at once by the next. */
const FOLLOW_PAGE = 1000;

/**
 * `--follow`: prints the last matching rows oldest first, then polls for rows past a cursor (the
 * filters still apply) until SIGINT/SIGTERM, each row exactly once and in seq order. `--json`
 * prints one JSON object per line.
 *
 * Why a cursor is safe: rows become visible only in seq order, so whatever a reader sees is every
 * row up to some seq. An append reads the head and numbers its rows under the chain's lock, which
 * its commit releases: SQLite's one write lock (`BEGIN IMMEDIATE`), or on PostgreSQL the
 * transaction-scoped advisory lock every replica takes, which the server lets go only after the
 * commit is visible to new snapshots. So the next append cannot even read the head, let alone
 * commit a higher seq, before the lower one is visible. Hence a head read *before* a query bounds
 * what that query sees from below: every row up to that head is visible to it, so the cursor may
 * skip to that head (past rows the filter leaves out: a quiet filter does not rescan the tail),
 * or to the last row printed if that is higher — never the head alone, which re-printed the rows
 * a query found beyond it, and never a head read after the query, which skipped the rows
 * committed in between.
 */
async function follow(out: CliOutput, services: Services, filter: AuditFilter, json: boolean): Promise<void> {
  // Text: one header, then each poll's rows at fixed minimum widths so the columns stay under it.
  const lines = (rows: AuditRow[]): string[] => formatTable(rows.map(auditJson), TABLE_COLUMNS, '', FOLLOW_WIDTHS).split('\n');
  let header = !json;
  const print = (rows: AuditRow[]): void => {
    if (json) {
      for (const row of rows) out.write(`${escapeUnprintable(JSON.stringify(auditJson(row)))}\n`);
      return;
    }
    if (rows.length === 0) return;
    const [head, ...body] = lines(rows);
    if (header) out.write(`${head}\n`);
    header = false;
    for (const line of body) out.write(`${line}\n`);
  };
  const headSeq = async (): Promise<number> => (await services.store.audit.head())?.seq ?? 0;
  const floor = await headSeq();
  const initial = (await services.store.audit.query({ ...filter, order: 'desc' })).reverse();
  print(initial);
  let after = Math.max(floor, initial.at(-1)?.seq ?? 0);
  let stopped = false;
  const stop = (): void => void (stopped = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let full = false;
  while (!stopped) {
    if (!full) await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    const head = await headSeq();
    const rows = await services.store.audit.query({ ...filter, afterSeq: after, order: 'asc', limit: FOLLOW_PAGE });
    print(rows);
    const last = rows.at(-1)?.seq ?? after;
    // A full page may stop short of the head: go on from its last row, without waiting.
    full = rows.length === FOLLOW_PAGE;
    after = full ? last : Math.max(last, head);
  }
}

const list = defineCommand({
  meta: { name: 'list', description: 'Query the audit log (newest first; --follow tails new events)' },
  args: {
    ...auditFilterArgs,
    follow: { type: 'boolean', description: 'Keep printing new events as they are written (Ctrl-C stops)' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    // Flags first: a typo is reported as one, not as a database that is missing.
    const filter = filterFromArgs(args, systemClock.now());
    await withServices(ctx, args, async (services) => {
      if (args.follow) return follow(ctx.stdout, services, filter, args.json === true);
      const rows = await services.store.audit.query(filter);
      if (args.json) return printJson(ctx.stdout, rows.map(auditJson));
      printTable(ctx.stdout, rows.map(auditJson), TABLE_COLUMNS, '(no matching events)');
    });
  },
});

const prune = defineCommand({
  meta: { name: 'prune', description: 'Apply audit.retention now (the server also does it on its checkpoint timer)' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    let retention = 0;
    await withServices(
      ctx,
      args,
      async (services) => {
        await services.auditCheckpoints.checkpointNow();
        const progress = pruneProgress(ctx.stderr);
        const result = await pruneAudit(
          {
            store: services.store,
            keks: services.keks,
            seal: services.auditSeal,
            now: () => services.clock.now(),
            actor: 'cli',
            onStep: progress.step,
            ...(ctx.hooks.crash ? { crash: ctx.hooks.crash } : {}),
          },
          retention,
        ).finally(progress.done);
        if (result.idle?.reason === 'emptied') throw emptiedLog(result.idle.signingKeys);
        if (result.unrecordedStart !== undefined) {
          ctx.stderr.write(`warning: the audit log started at seq ${result.unrecordedStart}: ${unrecordedFacts(result).hint}\n`);
        }
        if (args.json) {
          return printJson(ctx.stdout, {
            deleted: result.deleted,
            anchor_seq: result.anchorSeq ?? null,
            steps: result.steps,
            ...(result.unrecordedStart === undefined ? {} : { unrecorded_start: result.unrecordedStart }),
            // Why nothing was pruned, as the text line says it: a script can tell a log within
            // its retention from old events waiting for a checkpoint to cut at.
            ...(result.deleted === 0 && result.idle ? { idle: result.idle } : {}),
          });
        }
        const steps = result.steps > 1 ? ` in ${result.steps} steps` : '';
        const why = result.deleted === 0 && result.idle ? `: ${idleReason(result.idle, retention)}` : '';
        ctx.stdout.write(
          `pruned ${result.deleted} events${steps}${why}${result.anchorSeq ? `; the log now starts at checkpoint seq ${result.anchorSeq}` : ''}\n`,
        );
      },
      {
        check: (config) => {
          if (config.audit.retention === null)
            throw new CreddyError(
              'ERR_CONFIG_INVALID',
              `audit.retention is not set in ${config.source}, so there is nothing to prune (set e.g. audit: {retention: 365d})`,
            );
          retention = config.audit.retention;
        },
      },
    );
  },
});

/**
 * An existing store whose audit log is empty: its rows were deleted behind creddy's back, since
 * every command that opens a store records its signing keys first and a prune always leaves an
 * anchor. Exit 1, as `audit verify` does: a scheduled prune is often the only job that reads the
 * log, and a calm "empty" there would hide the deletion for as long as nobody runs verify.
 */
function emptiedLog(signingKeys: number): CreddyError {
  return new CreddyError(
    'ERR_AUDIT_INVALID',
    `the audit log is empty, but this store holds ${signingKeys} signing key(s) whose key.created rows it must hold: the log of an existing store is never empty, so its rows were deleted behind creddy's back (tampering); nothing was pruned. ` +
      'Run `creddy audit verify`, and compare with the witness (audit.witness; docs/audit.md "Witnesses: checkpoints outside the database")',
    { details: { reason: 'emptied', signing_keys: signingKeys } },
  );
}

/** Why `audit prune` deleted nothing, in words (with `retention` in seconds). */
function idleReason(idle: PruneIdle, retention: number): string {
  const limit = `audit.retention (${formatDuration(retention)})`;
  switch (idle.reason) {
    case 'empty':
      return 'the audit log is empty';
    case 'emptied':
      return emptiedLog(idle.signingKeys).message; // unreachable: the command fails first
    case 'within-retention':
      return `no event is older than ${limit}`;
    case 'no-anchor':
      return `${idle.older} ${idle.older === 1 ? 'event is' : 'events are'} older than ${limit}, but the log is cut only at a signed checkpoint and none lies between them and the younger events; a later prune removes them once a checkpoint after them is older than the retention too`;
  }
}

export const auditCommand = defineCommand({
  meta: { name: 'audit', description: 'Read, verify and export the audit log' },
  subCommands: { list, ...auditVerifyCommands, prune },
});
