import { type ArgsDef, type CommandDef, defineCommand, runCommand } from 'citty';
import { redact } from '../_utils/redact.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { agentCommand } from './agent.js';
import { normalizeArgv } from './argv.js';
import { auditCommand } from './audit.js';
import { backendCommand } from './backend.js';
import { getCommand, listCommand, revokeCommand } from './caller.js';
import { completionCommand } from './completion.js';
import { configCommand, doctorCommand } from './doctor.js';
import { type ChildExit, execCommand } from './exec.js';
import { federationCommand } from './federation.js';
import { gitCredentialCommand } from './git-credential.js';
import { healthCommand } from './health.js';
import { helpCommand, versionCommand } from './help.js';
import { initCommand } from './init.js';
import { type CliContext, type CliHooks, type CliIo, cliContext } from './io.js';
import { keysCommand } from './keys.js';
import { secretCommand } from './secret.js';
import { serverCommand } from './server.js';
import { storeCommand } from './store.js';
import { stripAnsi, styleFor } from './style.js';
import { resolveCommand, subCommandsOf } from './tree.js';
import { renderUsage } from './usage.js';
import { verifyCommand } from './verify.js';
import { VERSION } from './version.js';

export { VERSION };

/** The `creddy` command tree. */
export const rootCommand = defineCommand({
  meta: { name: 'creddy', version: VERSION, description: 'Short-lived credential broker' },
  args: { debug: { type: 'boolean', description: 'Print stack traces on errors' } },
  subCommands: {
    init: initCommand,
    server: serverCommand,
    health: healthCommand,
    agent: agentCommand,
    get: getCommand,
    list: listCommand,
    revoke: revokeCommand,
    verify: verifyCommand,
    keys: keysCommand,
    audit: auditCommand,
    backend: backendCommand,
    store: storeCommand,
    config: configCommand,
    doctor: doctorCommand,
    exec: execCommand,
    'git-credential': gitCredentialCommand,
    federation: federationCommand,
    help: helpCommand,
    version: versionCommand,
    completion: completionCommand,
    secret: secretCommand,
  },
});

/** Exit codes: 0 ok, 1 error, 2 usage; `creddy exec` exits with its child's code instead. */
export type ExitCode = 0 | 1 | 2;

const TREE = rootCommand as unknown as CommandDef;

/**
 * Runs the CLI and returns the exit code instead of exiting. Errors are one line
 * (`creddy: ERR_CODE: message`), never a stack trace unless `--debug`; with `--json` they are
 * one JSON object on stderr instead (`{"error": {"code", "message", "details"?}}`), so stdout
 * holds only results.
 *
 * `io` replaces the process's streams, environment and working directory for this run (the bins
 * pass nothing), so callers such as tests can run many commands in one process; `hooks` are
 * test seams (see CliHooks).
 */
export async function runCli(argv: string[], io: Partial<CliIo> = {}, hooks: CliHooks = {}): Promise<number> {
  const ctx = cliContext(TREE, io, hooks);
  // Words after `--` belong to `creddy exec`'s child command, not to creddy.
  const dashes = argv.indexOf('--');
  const ours = dashes === -1 ? argv : argv.slice(0, dashes);
  const debug = ours.includes('--debug');
  const json = ours.includes('--json');
  const words = ours.filter((a) => a !== '--debug');
  const rest = dashes === -1 ? null : argv.slice(dashes + 1);
  const rawArgs = [...words, ...(rest === null ? [] : ['--', ...rest])];
  try {
    if (rawArgs.length === 0 || ours.includes('--help') || ours.includes('-h')) {
      printUsage(ctx, rawArgs);
      return rawArgs.length === 0 ? 2 : 0;
    }
    if (rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-v')) {
      ctx.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const { cmd, path, depth } = resolveCommand(TREE, words);
    if (cmd.subCommands !== undefined) {
      const next = words[depth];
      if (next === undefined || next.startsWith('-')) {
        // `creddy audit` alone: show what the group offers rather than a bare error.
        printUsage(ctx, words);
        return 2;
      }
      const known = subCommandsOf(cmd).map(([name]) => name);
      throw new CreddyError(
        'ERR_USAGE',
        `unknown command "${[...path, next].join(' ')}" (${path.length ? `creddy ${path.join(' ')}` : 'creddy'} has: ${known.join(', ')})`,
      );
    }
    // `help` takes any words (a command path); every other leaf gets unambiguous argv.
    const leafArgv =
      cmd === (helpCommand as unknown as CommandDef)
        ? words.slice(depth)
        : normalizeArgv((cmd.args ?? {}) as ArgsDef, words.slice(depth), rest, {
            passthrough: cmd === (execCommand as unknown as CommandDef),
          });
    const { result } = await runCommand(cmd, { rawArgs: leafArgv, data: ctx });
    if (isChildExit(result)) return result.exitCode;
    return 0;
  } catch (err) {
    return reportError(ctx, err, { debug, json });
  }
}

/** Prints an error as one line (or one JSON object with `--json`) and returns its exit code. */
function reportError(ctx: CliContext, err: unknown, options: { debug: boolean; json: boolean }): number {
  // citty's own errors (a missing required argument) are usage errors too.
  const usage = (err as Error).name === 'CLIError' || isCreddyError(err, 'ERR_USAGE');
  const code = isCreddyError(err) ? err.code : usage ? 'ERR_USAGE' : 'ERR_INTERNAL';
  const message = redact(stripAnsi((err as Error).message ?? String(err)));
  if (options.json) {
    const details = isCreddyError(err) && err.details ? { details: err.details } : {};
    ctx.stderr.write(`${JSON.stringify({ error: { code, message, ...details } })}\n`);
  } else {
    ctx.stderr.write(`creddy: ${code}: ${message}\n`);
    if (usage) ctx.stderr.write('run with --help for usage\n');
  }
  if (options.debug && err instanceof Error) ctx.stderr.write(`${redact(err.stack ?? '')}\n`);
  return usage ? 2 : 1;
}

/** The usage of the command the leading words name. */
function printUsage(ctx: CliContext, words: string[]): void {
  const { cmd, path } = resolveCommand(TREE, words);
  ctx.stdout.write(renderUsage(cmd, path, styleFor(ctx.stdout, ctx.env)));
}

function isChildExit(result: unknown): result is ChildExit {
  return typeof (result as Partial<ChildExit> | undefined)?.exitCode === 'number';
}

export { CreddyError };
