/**
 * `creddy audit list --json | head -1`: the reader has what it wanted and closed the pipe. That
 * ends the command quietly, as in any Unix tool, instead of an unhandled EPIPE and a stack trace.
 * Installed by both entries (`main.ts`, `get-main.ts`).
 */
export function exitQuietlyOnEpipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}
