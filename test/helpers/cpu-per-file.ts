/**
 * Per-file CPU, for measuring the suite (test/README.md "Measuring"): with `CREDDY_TEST_CPU_LOG`
 * set, vitest.config.ts runs this before every file, and the file's CPU is appended to that path
 * as `file<TAB>wall s<TAB>user s<TAB>system s<TAB>children's user s<TAB>children's system s`.
 *
 * It reads the worker's own /proc/self/stat (Linux only): one worker runs one file at a time, so
 * what the worker used from here (before the file is imported) to the file's last afterAll is the
 * file's, its worker threads included, and so are the processes it started and waited for (Node
 * reaps its children, which adds them to the children's fields).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll } from 'vitest';

/** utime, stime, cutime, cstime of this process, in seconds. */
function times(): number[] {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields 14-17 (1-based), counted after the command name, which may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).map((ticks) => Number(ticks) / 100);
}

const log = process.env['CREDDY_TEST_CPU_LOG'];
if (log) {
  const start = times();
  const started = Date.now();
  // Registered before the file's own hooks, so it runs after all of them (vitest runs afterAll in reverse).
  // biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern for the context it passes first.
  afterAll(({}, suite) => {
    const used = times().map((value, i) => (value - start[i]!).toFixed(2));
    appendFileSync(log, `${suite.file.filepath}\t${((Date.now() - started) / 1000).toFixed(2)}\t${used.join('\t')}\n`);
  });
}
