import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { runCli as runCliInProcess } from '../../src/cli/index.js';

/**
 * Running the CLI. Most tests run it in this process (`runCli`): the same command tree, argv
 * handling, exit codes and output, without a Node start per command. A few prove the built bins
 * end to end (`runBin`), and the crash tests kill a real process (`runCrashCli`).
 */

export interface CliResult {
  /** The exit code; null when the process was killed by a signal (runBin, runCrashCli). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** What a fresh process would inherit besides `env`: enough to find `git`, `sh` and a home. */
const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'], HOME: process.env['HOME'] });

/** Runs `creddy ARGS` in this process with exactly `env` (plus PATH and HOME), feeding `input` on stdin. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCliInProcess(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: (async function* () {
      if (input !== '') yield Buffer.from(input);
    })(),
    env: { ...baseEnv(), ...env },
  });
  return { code, stdout, stderr };
}

/**
 * Path of the built `creddy` bin, as package.json installs it (`dist/creddy.cjs`: `get` from its
 * bundle, every other command through dist/main.js); `npm test` builds before running vitest.
 */
export const BIN = resolve(import.meta.dirname, '../../dist/creddy.cjs');

/** The built CLI with test hooks from the environment (see crash-cli.mjs). */
export const CRASH_CLI = resolve(import.meta.dirname, 'crash-cli.mjs');

/** Runs a command to completion with exactly `env`, feeding `input` on stdin. */
export function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Runs the built `creddy` bin in its own process. */
export function runBin(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], { ...baseEnv(), ...env }, input);
}

/**
 * Where a key transition run by runCrashCli kills itself (`crashAt`), or waits until `parties`
 * processes given the same fresh `dir` have reached `step` (`meetAt`).
 */
export interface CrashPoints {
  readonly crashAt?: string;
  readonly meetAt?: { readonly step: string; readonly dir: string; readonly parties: number };
}

/** Runs the built CLI in its own process with hooks at the named transition steps (crash-cli.mjs). */
export function runCrashCli(args: string[], env: NodeJS.ProcessEnv, points: CrashPoints): Promise<CliResult> {
  const hooks = {
    ...(points.crashAt ? { CREDDY_TEST_CRASH_AT: points.crashAt } : {}),
    ...(points.meetAt
      ? {
          CREDDY_TEST_MEET_AT: points.meetAt.step,
          CREDDY_TEST_MEET_DIR: points.meetAt.dir,
          CREDDY_TEST_MEET_PARTIES: String(points.meetAt.parties),
        }
      : {}),
  };
  return runProcess(process.execPath, [CRASH_CLI, ...args], { ...baseEnv(), ...env, ...hooks });
}

/** A `creddy server` from the built bin, in its own process. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Everything it printed on stdout so far. */
  stdout(): string;
}

/** Starts `creddy server --config CONFIG` from the built bin; resolves once it prints where it listens. */
export async function spawnServer(configPath: string, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'server', '--config', configPath], { env: { ...baseEnv(), ...env } });
  child.stdin.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /creddy listening on (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { url, child, exited, stdout: () => out };
}
