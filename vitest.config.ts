import { defineConfig } from 'vitest/config';
import LongFilesFirst from './test/helpers/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A run directory for the workers; drops the PostgreSQL databases tests left (test/helpers/pg.ts).
    globalSetup: ['test/helpers/global-setup.ts'],
    // CREDDY_TEST_CPU_LOG=<file>: each file's CPU, its child processes included, appended there (test/README.md).
    setupFiles: process.env['CREDDY_TEST_CPU_LOG'] ? ['test/helpers/cpu-per-file.ts'] : [],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Four workers on the 2-core machines: files that wait (on a child process, PostgreSQL, a
    // socket timeout) leave the cores to the others, and replicas/rotation-under-load holds one
    // worker for its 41 s of protocol while using little CPU. Measured against three: test/README.md.
    maxWorkers: 4,
    // Child processes, not threads: tests send signals, set process.env and load better-sqlite3.
    pool: 'forks',
    // Files share their worker's module cache instead of re-importing src/ each (about a third of
    // the run). Safe because every test brings its own state: brokers on port 0 in temp dirs, env
    // passed explicitly, fake timers restored by the test that installed them (test/helpers/harness.ts
    // useFakeTimers keeps fetch's own timer real), and src/ keeps no module-level state.
    isolate: false,
    // Vitest's duration order (longest first) once it has a results cache; on a fresh clone, the
    // files that are long by design first, so they do not end the run late (test/helpers/sequencer.ts).
    sequence: { sequencer: LongFilesFirst },
    // Transformed modules kept on disk between runs (node_modules/.experimental-vitest-cache, keyed
    // by path, content, config and vitest version): a run after the first skips transforming src/
    // and test/ again. A fresh clone (CI) has no cache and gains nothing. Measured: test/README.md.
    experimental: { fsModuleCache: true },
  },
});
