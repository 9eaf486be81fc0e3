import type { CommandDef } from 'citty';
import type { Clock } from '../_utils/clock.js';
import { CreddyError } from '../errors.js';
import type { CrashHook } from '../keys/transition.js';

/** Anything a command can print to; `isTTY` (a terminal) decides colour and progress display. */
export interface CliOutput {
  /** Text, or bytes where a command writes binary (`audit export --out -`). */
  write(text: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
}

/**
 * Where one CLI run reads and writes. The bins use the process's own; tests pass buffers and an
 * env of their own, so many runs can share one process without touching its globals.
 */
export interface CliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  readonly stdin: AsyncIterable<Buffer | string> & { readonly isTTY?: boolean };
  /** CREDDY_URL, CREDDY_TOKEN, CREDDY_CONFIG, the KEK and audit key variables, … */
  readonly env: NodeJS.ProcessEnv;
  /** Relative paths in flags (`--config`, `--dir`, `--out`, …) are resolved against it. */
  readonly cwd: string;
}

/**
 * Seams for tests, never set by the bins: `crash` is called at named steps of key transitions
 * (`rotate:generated`, `rotate:committed`, `rewrap:row-N`) and after each committed retention
 * step (`prune:step-N`) so a test can kill the process there;
 * `clock` is what the credential cache of `get --cache` judges expiry by, and what progress lines
 * (`audit export`, `audit verify --bundle`) time themselves by (default: the system's).
 */
export interface CliHooks {
  readonly crash?: CrashHook;
  readonly clock?: Clock;
}

/** The standard streams a run may take from the process. */
export type StdioName = 'stdin' | 'stdout' | 'stderr';

/** What every command runs with: its IO and the hooks. */
export interface CliContext extends CliIo {
  readonly hooks: CliHooks;
  /**
   * The command tree with the top-level commands `names` loaded (all of them for 'all'), for
   * `help` and `completion` (they are part of it, so it is passed in).
   */
  readonly loadTree: (names: readonly string[] | 'all') => Promise<CommandDef>;
  /** The streams that are the process's own, which a child process (`creddy exec`) can inherit. */
  readonly processStdio: ReadonlySet<StdioName>;
}

/** The process's own IO, filled in wherever `io` leaves a part out. */
export function cliContext(loadTree: CliContext['loadTree'], io: Partial<CliIo> = {}, hooks: CliHooks = {}): CliContext {
  const processStdio = new Set((['stdin', 'stdout', 'stderr'] as const).filter((name) => io[name] === undefined));
  // The process's streams are touched only when used: creating one changes its file descriptor
  // (a pipe becomes non-blocking), which a child that inherits it would see.
  return {
    get stdout() {
      return io.stdout ?? process.stdout;
    },
    get stderr() {
      return io.stderr ?? process.stderr;
    },
    get stdin() {
      return io.stdin ?? process.stdin;
    },
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    hooks,
    loadTree,
    processStdio,
  };
}

/** Reads all of standard input (empty on a terminal: nothing is being piped in). */
export async function readStdin(io: Pick<CliIo, 'stdin'>): Promise<string> {
  if (io.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The context runCli hands to the command it runs, as citty's `data`. */
export function contextOf(data: unknown): CliContext {
  const ctx = data as Partial<CliContext> | undefined;
  if (ctx?.hooks === undefined || ctx.processStdio === undefined)
    throw new CreddyError('ERR_INTERNAL', 'a command ran without its CLI context');
  return ctx as CliContext;
}
