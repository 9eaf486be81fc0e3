import type { ArgsDef, CommandContext, CommandDef } from 'citty';
import { redact } from '../_utils/redact.js';
import { isCreddyError } from '../errors.js';
import { normalizeArgv } from './argv.js';
import type { ChildExit } from './exec.js';
import type { CliContext } from './io.js';
import { leafArgs } from './leaf-args.js';
import { stripAnsi } from './style.js';

/** Exit codes: 0 ok, 1 error, 2 usage; `creddy exec` exits with its child's code instead. */
export type ExitCode = 0 | 1 | 2;

/** How one run reports an error: `--debug` adds the stack, `--json` makes it one JSON object. */
export interface ErrorStyle {
  readonly debug: boolean;
  readonly json: boolean;
}

/**
 * Runs one leaf command (`creddy get`, `creddy audit list`, …) on the words after its name and
 * returns its exit code; an error is reported on `ctx.stderr` as `reportError` does. `leaf` is
 * the command's path (`audit list`): `help` takes its words as they are, `exec` keeps the words
 * after `--` for its child, and every other leaf gets unambiguous argv (`normalizeArgv`), which
 * `leafArgs` turns into the command's `args`.
 *
 * The full CLI (`runCli`) and `creddy get`'s own entry (`get-main.ts`) both run commands here,
 * so a command parses and fails the same way whichever started it.
 */
export async function runLeaf<T extends ArgsDef>(
  ctx: CliContext,
  cmd: CommandDef<T>,
  leaf: string,
  words: string[],
  rest: string[] | null,
  style: ErrorStyle,
): Promise<number> {
  try {
    // Every command declares its args as a plain object (citty allows a promise; none is).
    const declared = (cmd.args ?? {}) as ArgsDef;
    const leafArgv = leaf === 'help' ? words : normalizeArgv(declared, words, rest, { passthrough: leaf === 'exec' });
    // citty's CommandContext, as its runCommand builds it for a command without setup or subcommands.
    const context = { rawArgs: leafArgv, args: leafArgs(declared, leafArgv), data: ctx, cmd } as unknown as CommandContext<T>;
    const result: unknown = await cmd.run?.(context);
    return isChildExit(result) ? result.exitCode : 0;
  } catch (err) {
    return reportError(ctx, err, style);
  }
}

/**
 * Prints an error as one line (`creddy: ERR_CODE: message`, and ` (request id …)` when the broker
 * answered with one; never a stack trace unless `--debug`), or as one JSON object with `--json`
 * (`{"error": {"code", "message", "details"?, "request_id"?}}`), and returns its exit code: 2 for
 * a usage error, 1 for any other.
 */
export function reportError(ctx: CliContext, err: unknown, style: ErrorStyle): ExitCode {
  const usage = isCreddyError(err, 'ERR_USAGE');
  const code = isCreddyError(err) ? err.code : usage ? 'ERR_USAGE' : 'ERR_INTERNAL';
  const message = redact(stripAnsi((err as Error).message ?? String(err)));
  const requestId = isCreddyError(err) ? err.requestId : undefined;
  if (style.json) {
    const details = isCreddyError(err) && err.details ? { details: err.details } : {};
    ctx.stderr.write(`${JSON.stringify({ error: { code, message, ...details, ...(requestId ? { request_id: requestId } : {}) } })}\n`);
  } else {
    ctx.stderr.write(`creddy: ${code}: ${message}${requestId ? ` (request id ${requestId})` : ''}\n`);
    if (usage) ctx.stderr.write('run with --help for usage\n');
  }
  if (style.debug && err instanceof Error) ctx.stderr.write(`${redact(err.stack ?? '')}\n`);
  return usage ? 2 : 1;
}

function isChildExit(result: unknown): result is ChildExit {
  return typeof (result as Partial<ChildExit> | undefined)?.exitCode === 'number';
}
