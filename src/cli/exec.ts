import { type StdioOptions, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Readable } from 'node:stream';
import { CreddyError } from '../errors.js';
import { callerClient, issueBearer, noteTtl, requestArgs, requestFromArgs } from './caller.js';
import { CALLER_AUTH_ENV } from './caller-auth.js';
import { callerTimeout, timeoutArg } from './caller-timeout.js';
import { noteUnnamedSecrets } from './credential-env.js';
import { defineCommand } from './define-command.js';
import { credentialEnv } from './formats.js';
import { type CliContext, contextOf } from './io.js';
import { relaySignals } from './signal-relay.js';

/**
 * The child's environment: ours, minus whatever this agent authenticates with (its bearer token,
 * its key file's path and name, an OIDC token: CALLER_AUTH_ENV), plus the credential. The child
 * gets only the narrowed credential it was issued, not the means to ask creddy for more.
 */
export function childEnv(parent: NodeJS.ProcessEnv, credential: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent };
  for (const name of CALLER_AUTH_ENV) delete env[name];
  return Object.assign(env, credential);
}

export const execCommand = defineCommand({
  meta: {
    name: 'exec',
    description:
      'Run CMD with a fresh credential for BACKEND in its environment only: creddy exec BACKEND [flags] -- CMD ARGS… (exits with its code; Ctrl-C reaches it once, from the terminal; kill -TERM creddy is passed on)',
  },
  args: { ...requestArgs, ...timeoutArg },
  async run({ args, rawArgs, data }) {
    const ctx = contextOf(data);
    const dashes = rawArgs.indexOf('--');
    const command = dashes === -1 ? [] : rawArgs.slice(dashes + 1);
    if (command.length === 0) throw new CreddyError('ERR_USAGE', 'give the command after --, e.g. creddy exec aws-prod -- aws s3 ls');
    const client = await callerClient(ctx, callerTimeout(args.timeout, ctx.env));
    const issued = await issueBearer(client, requestFromArgs(args));
    noteTtl(ctx.stderr, issued);
    noteUnnamedSecrets(ctx.stderr, issued.credential);
    const code = await runChild(ctx, command, childEnv(ctx.env, credentialEnv(issued)));
    // The credential was for this command only: kill it now rather than at its expiry.
    await client.revoke(issued.id).catch(() => undefined);
    // runCli exits with the child's own code, not one of its 0/1/2.
    return { exitCode: code } satisfies ChildExit;
  },
});

/** What `exec` returns to runCli: the child's exit code, to exit with. */
export interface ChildExit {
  readonly exitCode: number;
}

/**
 * The child inherits the process's own standard streams (our terminal or pipes); streams a caller
 * of runCli passed in are piped to and from the child instead.
 */
function childStdio(ctx: CliContext): StdioOptions {
  return (['stdin', 'stdout', 'stderr'] as const).map((name) => (ctx.processStdio.has(name) ? 'inherit' : 'pipe'));
}

/** Runs the child, relaying signals (signal-relay.ts); resolves with a shell-style exit code. */
function runChild(io: CliContext, command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: childStdio(io), env, cwd: io.cwd });
    child.stdout?.on('data', (chunk: Buffer) => io.stdout.write(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => io.stderr.write(chunk.toString()));
    if (child.stdin)
      Readable.from(io.stdin)
        .on('error', () => undefined)
        .pipe(child.stdin)
        .on('error', () => undefined);
    // creddy outlives Ctrl-C and kill to revoke the credential; the child gets each signal once.
    const stopRelaying = relaySignals(child);
    let exited = false;
    const done = (code: number): void => {
      if (exited) return;
      exited = true;
      stopRelaying();
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      io.stderr.write(`creddy: cannot run ${command[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
      done(err.code === 'ENOENT' ? 127 : 126);
    });
    // 'close', not 'exit': piped output has then been passed on in full.
    child.once('close', (code, signal) => {
      done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
