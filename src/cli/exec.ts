import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { defineCommand } from 'citty';
import { CreddyError } from '../errors.js';
import { callerClient, requestArgs, requestFromArgs } from './caller.js';
import { credentialEnv } from './formats.js';

/** Signals passed on to the child, so `kill`, Ctrl-C and terminal hang-ups reach the real work. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * The child's environment: ours, minus the agent's own bearer token (the child gets only the
 * narrowed credential it was issued, never the means to ask for more), plus the credential.
 */
export function childEnv(parent: NodeJS.ProcessEnv, credential: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent, ...credential };
  delete env['CREDDY_TOKEN'];
  return env;
}

export const execCommand = defineCommand({
  meta: {
    name: 'exec',
    description: 'Run CMD with a fresh credential for BACKEND in its environment only: creddy exec BACKEND [flags] -- CMD ARGS…',
  },
  args: { ...requestArgs },
  async run({ args, rawArgs }) {
    const dashes = rawArgs.indexOf('--');
    const command = dashes === -1 ? [] : rawArgs.slice(dashes + 1);
    if (command.length === 0) throw new CreddyError('ERR_USAGE', 'give the command after --, e.g. creddy exec aws-prod -- aws s3 ls');
    const client = callerClient();
    const issued = await client.issue(requestFromArgs(args));
    const code = await runChild(command, childEnv(process.env, credentialEnv(issued)));
    // The credential was for this command only: kill it now rather than at its expiry.
    await client.revoke(issued.id).catch(() => undefined);
    // Exit with the child's own code (runCli knows only 0/1/2); nothing is buffered on our stdout.
    process.exit(code);
  },
});

/** Runs the child with inherited stdio and forwarded signals; resolves with a shell-style exit code. */
function runChild(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => (): void => void child.kill(signal);
    const handlers = FORWARDED.map((signal) => [signal, forward(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const done = (code: number): void => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`creddy: cannot run ${command[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
      done(err.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
