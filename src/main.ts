#!/usr/bin/env node
import { VERSION } from './cli/version.js';

const argv = process.argv.slice(2);

// `creddy --version` alone, the form scripts run most: printed without the CLI core and without
// process.stdout, whose creation on a pipe loads net and streams (bench/cli-startup.mjs: about a
// tenth of the command). Same output and exit code as runCli's `--version`; any other form goes there.
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v') && writeVersion()) process.exit(0);

// The CLI entry (the `creddy` bin, dist/creddy.cjs, brings every command but `get` here): hand
// argv to the CLI, exit with its code once output is flushed.
const [{ exitQuietlyOnEpipe }, { runCli }] = await Promise.all([import('./cli/epipe.js'), import('./cli/index.js')]);
exitQuietlyOnEpipe();
process.exitCode = await runCli(argv);
// A worker of `server --workers` is done too (drained, or failed to start): its IPC channel to
// the primary would keep the process alive. Only a process with that channel loads the cluster code.
if (process.connected) (await import('./cli/workers.js')).leaveCluster();

/**
 * Writes the version line straight to file descriptor 1; true when it was written or the reader
 * had gone (EPIPE: exit 0, as exitQuietlyOnEpipe does). False on anything else (a
 * non-blocking pipe that is full, a closed descriptor): nothing was written, and the CLI prints it
 * through process.stdout as it always did.
 */
function writeVersion(): boolean {
  try {
    process.getBuiltinModule?.('node:fs').writeSync(1, `${VERSION}\n`);
    return typeof process.getBuiltinModule === 'function';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPIPE';
  }
}
