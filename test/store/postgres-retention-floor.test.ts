/**
 * The runtime role may INSERT checkpoint rows (servers sign them; SQL cannot check Ed25519), and
 * may call the prune function. A leaked runtime password once emptied the log with a checkpoint it
 * made up. Now the function never deletes a row younger than the retention floor the schema owner
 * set (`creddy store migrate`, from `audit.retention`), the server's own pruning anchors only at
 * checkpoints that verify, and `audit verify` names a forged checkpoint and a prune anchored on one.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { auditEvent } from '../../src/model/audit.js';
import { createServices, type Services } from '../../src/services.js';
import { runCli } from '../helpers/cli.js';
import { captureLogger, demoYaml, tempDir, testClock, testEnv } from '../helpers/harness.js';
import { adminQuery, databaseUrl, testClient } from '../helpers/pg.js';
import { pruneRecord } from './fixture.js';

const suffix = randomBytes(4).toString('hex');
const OWNER = `creddy_owner_${suffix}`;
const APP = `creddy_app_${suffix}`;
const DB = `creddy_test_floor_${suffix}`;
const HOUR = 3600;

describe('PostgreSQL audit retention floor: what a leaked runtime password can and cannot prune', () => {
  const tmp = tempDir();
  const env = testEnv();
  const config = (name: string, user: string, audit: string) => {
    const path = join(tmp.dir, `${name}.yaml`);
    writeFileSync(path, demoYaml({ dataDir: join(tmp.dir, 'data'), extra: `store: ${databaseUrl(DB, user)}\n${audit}` }));
    return path;
  };
  const clock = testClock();
  let ownerConfig: string;
  let appConfig: string;
  let services: Services;
  let app: pg.Client;

  /** As the runtime role, plain SQL: a checkpoint of row `seq` with a signature nobody made. */
  const forge = (seq: number, keyId: string) =>
    app.query(
      "INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) SELECT seq, hash, 0, $2, 'not-a-signature' FROM audit_events WHERE seq = $1",
      [seq, keyId],
    );
  const pruneAsApp = (anchor: number) => app.query<{ deleted: string }>('SELECT creddy_audit_prune($1) AS deleted', [anchor]);
  const rowCount = async () => Number((await app.query('SELECT count(*) AS n FROM audit_events')).rows[0].n);
  const head = async () => Number((await app.query('SELECT max(seq) AS s FROM audit_events')).rows[0].s);
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await services.audit.write({ event: auditEvent({ time: clock.now(), type: 'auth.failed', outcome: 'denied', actor: 'test' }) });
    }
    return head();
  };
  const verify = async () => {
    const r = await runCli(['audit', 'verify', '--json', '--config', appConfig], env);
    expect(r.code, r.stderr).toBe(1);
    return JSON.parse(r.stdout).problem as { seq: number; kind: string; detail: string };
  };

  beforeAll(async () => {
    await adminQuery(`CREATE ROLE ${OWNER} LOGIN`);
    await adminQuery(`CREATE ROLE ${APP} LOGIN`);
    await adminQuery(`CREATE DATABASE ${DB} OWNER ${OWNER}`);
    ownerConfig = config('owner', OWNER, 'audit:\n  retention: 1h');
    appConfig = config('app', APP, 'audit:\n  retention: 1h');
    const migrated = await runCli(['store', 'migrate', '--runtime-role', APP, '--config', ownerConfig], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('audit retention floor 1h');
    // The log's first rows are written three hours ago (the signing keys' rows included).
    clock.advance(-3 * HOUR);
    services = await createServices(parseConfig(readFileSync(appConfig, 'utf8'), appConfig, env), {
      env,
      clock,
      logger: captureLogger().logger,
      actor: 'cli',
    });
    app = testClient(databaseUrl(DB, APP));
    await app.connect();
  });
  afterAll(async () => {
    await services?.close();
    await app?.end();
    await adminQuery(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await adminQuery(`DROP ROLE IF EXISTS ${APP}`);
    await adminQuery(`DROP ROLE IF EXISTS ${OWNER}`);
    tmp.cleanup();
  });

  it('the runtime role can neither read nor lower the floor', async () => {
    for (const sql of ['SELECT * FROM audit_retention_floor', 'UPDATE audit_retention_floor SET min_age_seconds = 60']) {
      const err = (await app.query(sql).catch((e: unknown) => e)) as { code?: string };
      expect(err.code, sql).toBe('42501');
    }
  });

  let legit: number;
  let oldest: number;
  it('the server prunes only at checkpoints that verify: a forged one is no anchor', async () => {
    legit = await write(20);
    expect((await services.auditCheckpoints.checkpointNow())?.seq).toBe(legit);
    clock.advance(HOUR);
    oldest = await write(10); // two hours old: past the floor
    clock.advance(2 * HOUR);
    await write(20); // now
    await forge(oldest, 'nobody');
    const pruned = await runCli(['audit', 'prune', '--json', '--config', appConfig], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual({ deleted: legit - 1, anchor_seq: legit, steps: 1 });
    // The forged checkpoint is named by verify, at its seq.
    expect(await verify()).toMatchObject({ seq: oldest, kind: 'unknown-key', detail: expect.stringContaining('nobody') });
  });

  it('a forged checkpoint at the head deletes nothing younger than the floor', async () => {
    const before = await rowCount();
    const top = await head();
    await forge(top, 'nobody');
    const err = (await pruneAsApp(top).catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(err.code).toBe('CRD02');
    expect(err.message).toMatch(/younger than the retention floor/);
    expect(await rowCount()).toBe(before);
  });

  it('what it still can: delete rows past the floor (retention would too), which verify reports with the forged anchor', async () => {
    const before = await rowCount();
    expect(Number((await pruneAsApp(oldest)).rows[0]!.deleted)).toBe(oldest - legit);
    expect(await rowCount()).toBe(before - (oldest - legit));
    const problem = await verify();
    expect(problem).toMatchObject({ seq: 1, kind: 'missing' });
    expect(problem.detail).toContain(`the log starts at seq ${oldest}, whose checkpoint is signed by unknown audit signing key nobody`);
  });

  it('a config without audit.retention migrates the floor off: no audit row may be deleted', async () => {
    const keepAll = config('owner-keep', OWNER, '');
    const migrated = await runCli(['store', 'migrate', '--json', '--config', keepAll], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ retention_floor_seconds: null });
    const err = (await pruneAsApp(oldest).catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe('CRD01');
    // The server's own pruning is told what to do about it (at a checkpoint with rows below it:
    // with none, a step has nothing to do and does not ask).
    const latest = (await services.store.audit.checkpoints()).at(-1)!.seq;
    expect(latest).toBeGreaterThan(oldest);
    await expect(services.store.audit.pruneBelow(latest, pruneRecord(services))).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringMatching(
        /audit retention is off in this database.*set audit.retention in the config and run `creddy store migrate`/,
      ),
    });
  });
});
