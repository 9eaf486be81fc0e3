import type { CommandDef } from 'citty';
import { CreddyError } from '../errors.js';
import { type CliContext, type CliHooks, type CliIo, cliContext } from './io.js';
import { reportError, runLeaf } from './run-leaf.js';
import { styleFor } from './style.js';
import { type LazyCommand, loadTree, resolveCommand, subCommandsOf } from './tree.js';
import { VERSION } from './version.js';

export { VERSION };

/**
 * The top-level commands, each imported on first use: `creddy get` loads the client and its
 * output formats, not the server, the store or the config parser (bench/cli-startup.mjs). The
 * root help lists each by its summary without loading it; a test keeps each summary equal to
 * the command's own description.
 */
export const COMMANDS: Readonly<Record<string, LazyCommand>> = {
  init: {
    summary: 'Write a working ./creddy.yaml (generic backend "demo") and the data dir',
    load: () => import('./init.js').then((m) => m.initCommand),
  },
  server: {
    summary: 'Run the broker (SIGTERM/SIGINT drain in-flight requests, then exit)',
    load: () => import('./server.js').then((m) => m.serverCommand),
  },
  health: {
    summary:
      "Ask the local server's /readyz (exit 0 when ready): the address is the server's own, --listen > CREDDY_PORT > listen: in the config",
    load: () => import('./health.js').then((m) => m.healthCommand),
  },
  agent: {
    summary: 'Manage agents (callers): create, rotate their tokens or keys, change grants, revoke',
    load: () => import('./agent.js').then((m) => m.agentCommand),
  },
  get: {
    summary: 'Get a credential for BACKEND (needs CREDDY_URL, CREDDY_TOKEN)',
    load: () => import('./caller.js').then((m) => m.getCommand),
  },
  list: {
    summary: "List this agent's active credentials (no secrets)",
    load: () => import('./caller.js').then((m) => m.listCommand),
  },
  revoke: {
    summary: "Revoke one of this agent's credentials by id (jti)",
    load: () => import('./caller.js').then((m) => m.revokeCommand),
  },
  verify: {
    summary: 'Verify a creddy token against the JWKS and deny-list at CREDDY_URL',
    load: () => import('./verify.js').then((m) => m.verifyCommand),
  },
  keys: { summary: 'Inspect, rotate, revoke and rewrap signing keys', load: () => import('./keys.js').then((m) => m.keysCommand) },
  audit: { summary: 'Read, verify and export the audit log', load: () => import('./audit.js').then((m) => m.auditCommand) },
  backend: { summary: 'Inspect configured backends', load: () => import('./backend.js').then((m) => m.backendCommand) },
  store: {
    summary: 'Manage the store: schema migrations, copy SQLite into PostgreSQL',
    load: () => import('./store.js').then((m) => m.storeCommand),
  },
  config: { summary: 'Check the configuration', load: () => import('./doctor.js').then((m) => m.configCommand) },
  doctor: {
    summary:
      'Check a deployment: config, KEK and audit key, store and schema, each backend, clock skew, the JWKS at the issuer (changes nothing)',
    load: () => import('./doctor.js').then((m) => m.doctorCommand),
  },
  exec: {
    summary:
      'Run CMD with a fresh credential for BACKEND in its environment only: creddy exec BACKEND [flags] -- CMD ARGS… (exits with its code; Ctrl-C reaches it once, from the terminal; kill -TERM creddy is passed on)',
    load: () => import('./exec.js').then((m) => m.execCommand),
  },
  'git-credential': {
    summary: "git credential helper: git config credential.helper 'creddy --backend NAME' (bin git-credential-creddy)",
    load: () => import('./git-credential.js').then((m) => m.gitCredentialCommand),
  },
  federation: {
    summary: 'OIDC workload federation (CI jobs without stored secrets)',
    load: () => import('./federation.js').then((m) => m.federationCommand),
  },
  help: {
    summary: 'Show help for creddy or for a command: creddy help agent create',
    load: () => import('./help.js').then((m) => m.helpCommand),
  },
  version: {
    summary: 'Print the version of creddy (and of Node with --json)',
    load: () => import('./help.js').then((m) => m.versionCommand),
  },
  completion: {
    summary: 'Print a shell completion script: creddy completion bash|zsh|fish',
    load: () => import('./completion.js').then((m) => m.completionCommand),
  },
  secret: {
    summary: 'Store, rotate, list and delete the secrets that type: secret backends hand out',
    load: () => import('./secret.js').then((m) => m.secretCommand),
  },
};

const ROOT: CommandDef = {
  meta: { name: 'creddy', version: VERSION, description: 'Short-lived credential broker' },
  args: { debug: { type: 'boolean', description: 'Print stack traces on errors' } },
};

/**
 * The `creddy` command tree with the top-level commands `names` loaded (every one by default),
 * the others as stubs carrying their name and summary.
 */
export function commandTree(names: readonly string[] | 'all' = 'all'): Promise<CommandDef> {
  return loadTree(ROOT, COMMANDS, names);
}

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
  const ctx = cliContext(commandTree, io, hooks);
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
      await printUsage(ctx, rawArgs);
      return rawArgs.length === 0 ? 2 : 0;
    }
    if (rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-v')) {
      ctx.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const { cmd, path, depth } = resolveCommand(await commandTree(words.slice(0, 1)), words);
    if (cmd.subCommands !== undefined) {
      const next = words[depth];
      if (next === undefined || next.startsWith('-')) {
        // `creddy audit` alone: show what the group offers rather than a bare error; an option
        // where a command should be is named first (`creddy --foo`, `creddy audit --bogus`).
        if (next !== undefined) {
          const why =
            next === '--version' || next === '-v'
              ? '--version takes no other option (creddy version --json prints JSON)'
              : `unknown option ${next} where a command belongs`;
          ctx.stderr.write(`creddy: ERR_USAGE: ${why}\n`);
        }
        await printUsage(ctx, words);
        return 2;
      }
      const known = subCommandsOf(cmd).map(([name]) => name);
      throw new CreddyError(
        'ERR_USAGE',
        `unknown command "${[...path, next].join(' ')}" (${path.length ? `creddy ${path.join(' ')}` : 'creddy'} has: ${known.join(', ')})`,
      );
    }
    return await runLeaf(ctx, cmd, path.join(' '), words.slice(depth), rest, { debug, json });
  } catch (err) {
    return reportError(ctx, err, { debug, json });
  }
}

/** The usage of the command the leading words name. */
async function printUsage(ctx: CliContext, words: string[]): Promise<void> {
  const { cmd, path } = resolveCommand(await commandTree(words.slice(0, 1)), words);
  const { renderUsage } = await import('./usage.js');
  ctx.stdout.write(renderUsage(cmd, path, styleFor(ctx.stdout, ctx.env)));
}

export { CreddyError };
