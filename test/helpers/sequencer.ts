/**
 * The order files start in (vitest.config.ts `sequence.sequencer`). Vitest's own order is right
 * once it has run the suite: files that failed last time first, then the longest first, from the
 * durations it keeps in its results cache (node_modules/.vite/vitest/…/results.json). On a fresh
 * clone — CI, a new checkout — there is no cache and vitest falls back to the largest source
 * file first, which puts files that are short to read but long to run (a 41 s protocol, a
 * worker set that crashes on purpose) at the end of a worker's queue, where they make the tail.
 * So, without a cache, the files known to run long start first, longest first, and every other
 * file keeps vitest's order behind them; with one, vitest's order is kept as it is.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that take long by design, longest first (measured in full runs, test/README.md). A
 * rough order is enough: it only has to put them at the head of the queue. Paths from the root.
 */
export const LONG_FILES: readonly string[] = [
  'test/replicas/rotation-under-load.test.ts',
  // Compiles the whole project (`npm start`): the most CPU of any file, so the longest under load.
  'test/e2e/quickstart.test.ts',
  'test/workers/supervisor.test.ts',
  'test/consumer/consumer.test.ts',
  'test/workers/one-port.test.ts',
  'test/audit/secret-tamper.test.ts',
  'test/cli/consume.test.ts',
  'test/cli/shutdown-under-load.test.ts',
  'test/keys/crash-race.test.ts',
  'test/workers/metrics.test.ts',
  'test/replicas/database-outage.test.ts',
  'test/replicas/kill-replica.test.ts',
  'test/store/postgres-silent-connection.test.ts',
  'test/backends/postgres/crash.test.ts',
  // 25,000 audit rows each, pruned in three steps and verified at each (one spawns a killed CLI).
  'test/store/postgres-retention-steps.test.ts',
  'test/audit/retention-steps.test.ts',
  'test/cli/bin.test.ts',
  // Two followers polling every 500 ms while writers commit (about 9 s).
  'test/audit/follow-once.test.ts',
  // A postgres backend's silent connection, then an unanswered one: two 3 s deadlines (about 8 s).
  'test/backends/postgres/silent.test.ts',
  // 20,000 audit rows appended, then exported and verified by two heap-capped CLI processes (about 6 s).
  'test/audit/export-scale.test.ts',
  // Two brokers each (SQLite, PostgreSQL) with restarts, a refused server start and CLI runs (about 5 s).
  'test/keys/unopenable-keys.test.ts',
  'test/audit/verify-trust.test.ts',
];

export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const path = (spec: TestSpecification) => relative(this.ctx.config.root, spec.moduleId);
    // The key vitest keeps a file's last result under (BaseSequencer.sort).
    const cached = sorted.some((spec) => this.ctx.cache.getFileTestResults(`${spec.project.name}:${path(spec)}`) !== undefined);
    if (cached) return sorted;
    const rank = (spec: TestSpecification) => {
      const i = LONG_FILES.indexOf(path(spec).replaceAll('\\', '/'));
      return i < 0 ? LONG_FILES.length : i;
    };
    // Array.prototype.sort is stable: files of one rank keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
