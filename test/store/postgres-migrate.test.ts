import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCreddyError } from '../../src/errors.js';
import { migrateStore } from '../../src/store/migrate-store.js';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { PG_SCHEMA_VERSION } from '../../src/store/postgres/migrations.js';
import { runCli } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';
import { adminQuery, type FreshDatabase, freshDatabase } from '../helpers/pg.js';

const target = (db: FreshDatabase) => ({ url: db.url, display: db.url, poolSize: 2 });
const refusal = async (db: FreshDatabase): Promise<unknown> => {
  const store = createPostgresStore(target(db));
  try {
    return await store.ping().then(
      () => 'ready',
      (err: unknown) => err,
    );
  } finally {
    await store.close();
  }
};

describe('PostgreSQL schema: migrated explicitly, checked at start', () => {
  let db: FreshDatabase;
  const tmp = tempDir();
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    tmp.cleanup();
  });

  it('an empty database is refused with ERR_NOT_READY naming `creddy store migrate`', async () => {
    const err = await refusal(db);
    expect(isCreddyError(err, 'ERR_NOT_READY')).toBe(true);
    expect((err as Error).message).toMatch(/no creddy schema: run `creddy store migrate`/);
  });

  it('an older schema is refused; migrating brings it up, and a second migrate has nothing to do', async () => {
    expect(await migrateStore({ kind: 'postgres', ...target(db) }, { target: 1 })).toEqual({ kind: 'postgres', from: 0, to: 1 });
    const err = await refusal(db);
    expect(isCreddyError(err, 'ERR_NOT_READY')).toBe(true);
    expect((err as Error).message).toContain(`schema version 1, this creddy needs ${PG_SCHEMA_VERSION}: run \`creddy store migrate\``);
    expect(await migrateStore({ kind: 'postgres', ...target(db) })).toEqual({ kind: 'postgres', from: 1, to: PG_SCHEMA_VERSION });
    expect(await refusal(db)).toBe('ready');
    expect(await migrateStore({ kind: 'postgres', ...target(db) })).toEqual({
      kind: 'postgres',
      from: PG_SCHEMA_VERSION,
      to: PG_SCHEMA_VERSION,
    });
  });

  it('two processes migrating at once: one applies, the other waits and finds nothing to do', async () => {
    const other = await freshDatabase();
    try {
      const config = join(tmp.dir, 'race.yaml');
      writeFileSync(config, demoYaml({ dataDir: join(tmp.dir, 'data'), extra: `store: ${other.url}` }));
      const env = testEnv();
      const results = await Promise.all([0, 1, 2].map(() => runCli(['store', 'migrate', '--json', '--config', config], env)));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const outcomes = results.map((r) => JSON.parse(r.stdout) as { from: number; to: number });
      expect(outcomes.filter((o) => o.from === 0 && o.to === PG_SCHEMA_VERSION)).toHaveLength(1);
      expect(outcomes.filter((o) => o.from === PG_SCHEMA_VERSION)).toHaveLength(2);
      const applied = await adminQuery<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version', [], other.name);
      expect(applied.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await other.drop();
    }
  });

  it('a newer schema is refused by servers and by migrate, which never downgrades', async () => {
    await adminQuery("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')", [], db.name);
    try {
      const err = await refusal(db);
      expect(isCreddyError(err, 'ERR_NOT_READY')).toBe(true);
      expect((err as Error).message).toMatch(/schema version 99, newer than this creddy knows .*upgrade creddy/);
      const migrate = await migrateStore({ kind: 'postgres', ...target(db) }).catch((e: unknown) => e);
      expect(isCreddyError(migrate, 'ERR_CONFIG_INVALID')).toBe(true);
    } finally {
      await adminQuery('DELETE FROM schema_migrations WHERE version = 99', [], db.name);
    }
  });

  it('the CLI: a server refuses an unmigrated database, `store migrate` fixes it; the password never shows', async () => {
    const fresh = await freshDatabase();
    try {
      // Trust auth on the test server ignores the password; it is here to prove it is never printed.
      const url = new URL(fresh.url);
      url.password = 'hunter2-secret';
      const config = join(tmp.dir, 'cli.yaml');
      writeFileSync(config, demoYaml({ dataDir: join(tmp.dir, 'data-cli'), extra: `store: ${url.toString()}` }));
      const env = testEnv();
      const server = await runCli(['server', '--config', config], env);
      expect(server.code).toBe(1);
      expect(server.stderr).toMatch(/ERR_NOT_READY: postgres:\/\/postgres:\*\*\*@.* has no creddy schema: run `creddy store migrate`/);
      const migrate = await runCli(['store', 'migrate', '--config', config], env);
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(migrate.stdout).toMatch(new RegExp(`schema migrated from version 0 to ${PG_SCHEMA_VERSION}`));
      const list = await runCli(['agent', 'list', '--json', '--config', config], env);
      expect(list.code, list.stderr).toBe(0);
      for (const r of [server, migrate, list]) expect(r.stdout + r.stderr).not.toContain('hunter2');
      // Without CREDDY_KEK / CREDDY_AUDIT_KEY the development key files go into data_dir, which
      // PostgreSQL (unlike SQLite) never needed to create: it is made, private, on demand.
      const devKeys = await runCli(['keys', 'list', '--config', config], {});
      expect(devKeys.code, devKeys.stderr).toBe(1); // the keys above were sealed by testEnv's KEK…
      expect(devKeys.stderr).toMatch(/ERR_KEK_INVALID/); // …which is the point: a dev KEK is per data_dir
      expect(statSync(join(tmp.dir, 'data-cli')).mode & 0o777).toBe(0o700);
    } finally {
      await fresh.drop();
    }
  });

  it('a password in the URL query (?password=, ?sslpassword=) is masked by the server and by each migrate message', async () => {
    const fresh = await freshDatabase();
    try {
      // Trust auth ignores both; they are here to prove neither is ever printed.
      const url = `${fresh.url}?password=hunter2-query&sslpassword=k3y-phrase`;
      const config = join(tmp.dir, 'query.yaml');
      writeFileSync(config, demoYaml({ dataDir: join(tmp.dir, 'data-query'), extra: `store: "${url}"` }));
      const env = testEnv();
      const server = await runCli(['server', '--config', config], env);
      expect(server.code).toBe(1);
      expect(server.stderr).toMatch(/ERR_NOT_READY: postgres:\/\/postgres@.*\?password=\*\*\*&sslpassword=\*\*\* has no creddy schema/);
      const first = await runCli(['store', 'migrate', '--config', config], env);
      expect(first.code, first.stderr).toBe(0);
      const again = await runCli(['store', 'migrate', '--config', config], env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain(`?password=***&sslpassword=***: schema already at version ${PG_SCHEMA_VERSION}`);
      for (const r of [server, first, again]) expect(r.stdout + r.stderr).not.toMatch(/hunter2|k3y/);
    } finally {
      await fresh.drop();
    }
  });
});
