/**
 * Run-wide setup (vitest.config.ts `globalSetup`): a directory for this run's bookkeeping, given
 * to the workers as `inject('creddyRunDir')`. PostgreSQL databases that ./pg.ts creates are listed
 * there; a test's `drop()` only starts dropping its database (DROP DATABASE waits for a
 * checkpoint, which no test needs to wait for), and the end of the run drops whatever is left,
 * all at once (concurrent drops share their checkpoints). Nothing here connects anywhere unless
 * a test made a database.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { testClient } from './pg-client.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's bookkeeping directory (test/helpers/global-setup.ts). */
    creddyRunDir: string;
  }
}

/** The file in the run's directory that lists the databases made: `adminUrl<TAB>name` lines. */
export const RUN_DATABASES = 'databases';

export default function setup(project: TestProject): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'creddy-run-'));
  project.provide('creddyRunDir', dir);
  return async () => {
    const list = join(dir, RUN_DATABASES);
    if (existsSync(list)) {
      const databases = readFileSync(list, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => line.split('\t') as [adminUrl: string, name: string]);
      await Promise.all(databases.map(([adminUrl, name]) => dropDatabase(adminUrl, name).catch(() => undefined)));
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** DROP DATABASE … WITH (FORCE) (sessions still connected are ended first), if it is still there. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = testClient(adminUrl);
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
