import { type ArgsDef, type CommandDef, defineCommand, renderUsage, runCommand } from 'citty';
import { redact } from '../_utils/redact.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { agentCommand } from './agent.js';
import { normalizeArgv } from './argv.js';
import { auditCommand } from './audit.js';
import { backendCommand } from './backend.js';
import { getCommand, listCommand, revokeCommand } from './caller.js';
import { type ChildExit, execCommand } from './exec.js';
import { federationCommand } from './federation.js';
import { gitCredentialCommand } from './git-credential.js';
import { initCommand } from './init.js';
import { type CliHooks, type CliIo, type CliOutput, cliContext } from './io.js';
import { keysCommand } from './keys.js';
import { secretCommand } from './secret.js';
import { serverCommand } from './server.js';
import { storeCommand } from './store.js';
import { verifyCommand } from './verify.js';

export const VERSION = '0.1.0';

/** The `creddy` command tree. */
export const rootCommand = defineCommand({
  meta: { name: 'creddy', version: VERSION, description: 'Short-lived credential broker' },
  args: { debug: { type: 'boolean', description: 'Print stack traces on errors' } },
  subCommands: {
    init: initCommand,
    server: serverCommand,
    agent: agentCommand,
    get: getCommand,
    list: listCommand,
    revoke: revokeCommand,
    verify: verifyCommand,
    keys: keysCommand,
    audit: auditCommand,
    backend: backendCommand,
    store: storeCommand,
    exec: execCommand,
    'git-credential': gitCredentialCommand,
    federation: federationCommand,
    secret: secretCommand,
  },
});

/** Exit codes: 0 ok, 1 error, 2 usage; `creddy exec` exits with its child's code instead. */
export type ExitCode = 0 | 1 | 2;

/**
 * Runs the CLI and returns the exit code instead of exiting. Errors are one line
 * (`creddy: ERR_CODE: message`), never a stack trace unless `--debug`.
 *
 * `io` replaces the process's streams, environment and working directory for this run (the bins
 * pass nothing), so callers such as tests can run many commands in one process; `hooks` are
 * test seams (see CliHooks).
 */
export async function runCli(argv: string[], io: Partial<CliIo> = {}, hooks: CliHooks = {}): Promise<number> {
  const ctx = cliContext(io, hooks);
  // Words after `--` belong to `creddy exec`'s child command, not to creddy.
  const dashes = argv.indexOf('--');
  const ours = dashes === -1 ? argv : argv.slice(0, dashes);
  const debug = ours.includes('--debug');
  const words = ours.filter((a) => a !== '--debug');
  const rest = dashes === -1 ? null : argv.slice(dashes + 1);
  const rawArgs = [...words, ...(rest === null ? [] : ['--', ...rest])];
  try {
    if (rawArgs.length === 0 || ours.includes('--help') || ours.includes('-h')) {
      await printUsage(ctx.stdout, rawArgs);
      return rawArgs.length === 0 ? 2 : 0;
    }
    if (rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-v')) {
      ctx.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const leaf = leafArgv(words, rest);
    // Short of a leaf command, citty reports what is missing (an unknown or absent subcommand).
    if (!leaf) await runCommand(rootCommand, { rawArgs });
    else {
      const { result } = await runCommand(leaf.cmd, { rawArgs: leaf.argv, data: ctx });
      if (isChildExit(result)) return result.exitCode;
    }
    return 0;
  } catch (err) {
    const usage = (err as Error).name === 'CLIError' || isCreddyError(err, 'ERR_USAGE');
    if ((err as { code?: string }).code === 'E_NO_COMMAND') {
      // `creddy audit` alone: show what the group offers rather than a bare error.
      await printUsage(ctx.stdout, rawArgs);
      return 2;
    }
    const message = isCreddyError(err)
      ? `${err.code}: ${err.message}`
      : usage
        ? (err as Error).message
        : `ERR_INTERNAL: ${(err as Error).message}`;
    ctx.stderr.write(`creddy: ${redact(message)}\n`);
    if (usage) ctx.stderr.write('run with --help for usage\n');
    if (debug && err instanceof Error) ctx.stderr.write(`${redact(err.stack ?? '')}\n`);
    return usage ? 2 : 1;
  }
}

/** The usage of the command the leading words name, as citty's showUsage prints it. */
async function printUsage(out: CliOutput, rawArgs: string[]): Promise<void> {
  const [cmd, parent] = resolveCommand(rawArgs);
  out.write(`${await renderUsage(cmd, parent)}\n\n`);
}

/**
 * The leaf command the words name, with its own words made unambiguous for citty (see
 * normalizeArgv); null when the words do not reach a leaf command.
 */
function leafArgv(words: string[], rest: string[] | null): { cmd: CommandDef; argv: string[] } | null {
  const [cmd, , depth] = resolveCommand(words);
  if (cmd.subCommands !== undefined) return null;
  const passthrough = cmd === (execCommand as unknown as CommandDef);
  return { cmd, argv: normalizeArgv((cmd.args ?? {}) as ArgsDef, words.slice(depth), rest, { passthrough }) };
}

function isChildExit(result: unknown): result is ChildExit {
  return typeof (result as Partial<ChildExit> | undefined)?.exitCode === 'number';
}

/** Finds the deepest subcommand named by the leading positional words, and how many it took. */
function resolveCommand(rawArgs: string[]): [CommandDef, CommandDef | undefined, number] {
  let cmd = rootCommand as unknown as CommandDef;
  let parent: CommandDef | undefined;
  let depth = 0;
  for (const word of rawArgs) {
    if (word.startsWith('-')) break;
    const subs = cmd.subCommands as Record<string, CommandDef> | undefined;
    const next = subs?.[word];
    if (!next) break;
    parent = cmd;
    cmd = next;
    depth++;
  }
  return [cmd, parent, depth];
}

export { CreddyError };
