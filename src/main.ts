#!/usr/bin/env node
import { runCli } from './cli/index.js';

// `creddy audit list --json | head -1`: the reader has what it wanted and closed the pipe. That
// ends the command quietly, as in any Unix tool, instead of an unhandled EPIPE and a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

// The `creddy` bin: hand argv to the CLI, exit with its code once output is flushed.
process.exitCode = await runCli(process.argv.slice(2));
// A worker of `server --workers` is done too (drained, or failed to start): its IPC channel to
// the primary would keep the process alive. Only a process with that channel loads the cluster code.
if (process.connected) (await import('./cli/workers.js')).leaveCluster();
