/**
 * `creddy exec` and signals, with the built bin on a real pseudo-terminal (test/helpers/pty-run.py):
 * a signal the terminal sends to its foreground process group reaches the command once — from
 * the terminal, not again from creddy — while one sent to creddy alone is passed on; creddy
 * survives, revokes the credential and exits with the command's code.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

const PTY = resolve(import.meta.dirname, '../helpers/pty-run.py');

let broker: TestBroker;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  broker = await startBroker({ backends: '  demo:\n    type: generic\n    allowed_scopes: [read]\n    default_scopes: [read]' });
  env = { PATH: process.env['PATH'], HOME: broker.dir, CREDDY_URL: broker.url, CREDDY_TOKEN: await broker.agent('laptop', 'demo:read') };
});
afterAll(async () => broker?.stop());

/**
 * A command that catches the usual signals the way terraform or docker compose do: the first
 * starts a clean shutdown, and it exits 0.7 s later with 10 + the number of signals it got (a
 * second one is what makes such tools quit at once). It prints its parent (creddy), its process
 * group and the credential id once it is ready.
 */
const COUNTING = `
const seen = [];
for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTERM'])
  process.on(signal, () => {
    seen.push(signal);
    if (seen.length === 1) setTimeout(() => { console.log('child saw ' + seen.join(',')); process.exit(10 + seen.length); }, 700);
  });
const stat = require('node:fs').readFileSync('/proc/self/stat', 'utf8');
const pgrp = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2];
console.log('ready ' + process.ppid + ' ' + pgrp + ' ' + process.env.CREDDY_CREDENTIAL_ID);
setInterval(() => {}, 1000);`;

/** The same, but with the default action for every signal: the first one kills it. */
const PLAIN = `console.log('ready ' + process.ppid + ' 0 ' + process.env.CREDDY_CREDENTIAL_ID); setInterval(() => {}, 1000);`;

interface Ready {
  readonly creddyPid: number;
  readonly pgrp: number;
  readonly credentialId: string;
}

interface Run {
  readonly output: string;
  readonly exitCode: number;
}

/** Runs `argv`, calls `act` once the command is ready, then collects everything until `status` finds the exit code. */
function run(
  argv: string[],
  options: { detached?: boolean },
  act: (ready: Ready, child: ChildProcessWithoutNullStreams) => void,
  status: (output: string, code: number | null) => number,
): Promise<Run> {
  const child = spawn(argv[0]!, argv.slice(1), { env, detached: options.detached ?? false });
  let output = '';
  let acted = false;
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolvePromise, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const ready = /ready (\d+) (\d+) (\S+)/.exec(output);
      if (ready && !acted) {
        acted = true;
        act({ creddyPid: Number(ready[1]), pgrp: Number(ready[2]), credentialId: ready[3]! }, child);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ output, exitCode: status(output, code) }));
  });
}

/** `creddy exec demo -- node -e SCRIPT`, as typed in a terminal: creddy is the foreground job (and session leader). */
function onTerminal(script: string, act: (ready: Ready, terminal: ChildProcessWithoutNullStreams) => void): Promise<Run> {
  const argv = ['python3', PTY, process.execPath, BIN, 'exec', 'demo', '--', process.execPath, '-e', script];
  return run(argv, {}, act, (output) => Number(/exit-status (-?\d+)/.exec(output)?.[1] ?? Number.NaN));
}

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasPython)('creddy exec on a terminal', () => {
  it('Ctrl-C reaches the command once (the terminal sends it to the whole job), and the exit code is the command’s', async () => {
    const r = await onTerminal(COUNTING, (_, terminal) => terminal.stdin.write('\x03'));
    expect(r.output).toContain('child saw SIGINT\r\n');
    expect(r.exitCode, r.output).toBe(11);
  });

  it('Ctrl-\\ (SIGQUIT) reaches the command once', async () => {
    const r = await onTerminal(COUNTING, (_, terminal) => terminal.stdin.write('\x1c'));
    expect(r.output).toContain('child saw SIGQUIT\r\n');
    expect(r.exitCode, r.output).toBe(11);
  });

  it('a command that Ctrl-C kills: creddy survives it, revokes the credential and exits 128+2', async () => {
    let id = '';
    const r = await onTerminal(PLAIN, (ready, terminal) => {
      id = ready.credentialId;
      terminal.stdin.write('\x03');
    });
    expect(r.exitCode, r.output).toBe(130);
    expect((await broker.services.store.credentials.get(id))?.revokedAt).not.toBeNull();
  });

  it('SIGTERM sent to creddy alone is passed on, terminal or not', async () => {
    const r = await onTerminal(COUNTING, (ready) => process.kill(ready.creddyPid, 'SIGTERM'));
    expect(r.output).toContain('child saw SIGTERM\r\n');
    expect(r.exitCode, r.output).toBe(11);
  });

  it('a hang-up sent to creddy as the session leader (the kernel sends it there alone) is passed on', async () => {
    const r = await onTerminal(COUNTING, (ready) => process.kill(ready.creddyPid, 'SIGHUP'));
    expect(r.output).toContain('child saw SIGHUP\r\n');
    expect(r.exitCode, r.output).toBe(11);
  });

  it('a hang-up the shell sends to the whole job reaches the command once', async () => {
    // A shell is the session leader, creddy its foreground job; on a hang-up the shell signals
    // each job's process group (the trap keeps this one alive, as an interactive shell is).
    const argv = [
      'python3',
      PTY,
      'sh',
      '-c',
      'trap : HUP; "$@"; exit $?',
      'sh',
      process.execPath,
      BIN,
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      COUNTING,
    ];
    const r = await run(
      argv,
      {},
      (ready) => process.kill(-ready.pgrp, 'SIGHUP'),
      (output) => Number(/exit-status (-?\d+)/.exec(output)?.[1] ?? Number.NaN),
    );
    expect(r.output).toContain('child saw SIGHUP\r\n');
    expect(r.exitCode, r.output).toBe(11);
  });
});

describe('creddy exec without a terminal', () => {
  it('SIGINT sent to creddy alone (a supervisor, kill -INT PID) is passed on', async () => {
    // detached: a new session without a controlling terminal, as under a supervisor or in CI,
    // even when this test itself runs in a terminal.
    const argv = [process.execPath, BIN, 'exec', 'demo', '--', process.execPath, '-e', COUNTING];
    const r = await run(
      argv,
      { detached: true },
      (ready) => process.kill(ready.creddyPid, 'SIGINT'),
      (_, code) => code ?? Number.NaN,
    );
    expect(r.output).toContain('child saw SIGINT\n');
    expect(r.exitCode, r.output).toBe(11);
  });
});
