/**
 * Least privilege on PostgreSQL: the schema owner migrates, the server runs as a role that may
 * INSERT and SELECT the audit tables but never UPDATE, DELETE or TRUNCATE them; and tampering by
 * a superuser, who can get past any grant or trigger, is still caught by `creddy audit verify`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { runCli } from '../helpers/cli.js';
import { captureLogger, demoYaml, issue, tempDir, testEnv } from '../helpers/harness.js';
import { adminQuery, databaseUrl, testClient } from '../helpers/pg.js';
import { pruneRecord } from './fixture.js';

const suffix = randomBytes(4).toString('hex');
const OWNER = `creddy_owner_${suffix}`;
const APP = `creddy_app_${suffix}`;
const DB = `creddy_test_roles_${suffix}`;

describe('PostgreSQL roles: a migration owner and a least-privilege runtime role', () => {
  const tmp = tempDir();
  const env = testEnv();
  const config = (name: string, user: string) => {
    const path = join(tmp.dir, `${name}.yaml`);
    writeFileSync(path, demoYaml({ dataDir: join(tmp.dir, 'data'), extra: `store: ${databaseUrl(DB, user)}` }));
    return path;
  };
  let ownerConfig: string;
  let appConfig: string;
  let services: Services;
  let server: RunningServer;
  let app: pg.Client;

  beforeAll(async () => {
    await adminQuery(`CREATE ROLE ${OWNER} LOGIN`);
    await adminQuery(`CREATE ROLE ${APP} LOGIN`);
    await adminQuery(`CREATE DATABASE ${DB} OWNER ${OWNER}`);
    ownerConfig = config('owner', OWNER);
    appConfig = config('app', APP);
    app = testClient(databaseUrl(DB, APP));
    await app.connect();
  });
  afterAll(async () => {
    await server?.stop();
    await app?.end();
    await adminQuery(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await adminQuery(`DROP ROLE IF EXISTS ${APP}`);
    await adminQuery(`DROP ROLE IF EXISTS ${OWNER}`);
    tmp.cleanup();
  });

  it('the owner migrates and grants the runtime role; the owner itself cannot be the runtime role', async () => {
    const self = await runCli(['store', 'migrate', '--runtime-role', OWNER, '--config', ownerConfig], env);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/owns the schema: the runtime role must be another role/);
    const r = await runCli(['store', 'migrate', '--runtime-role', APP, '--config', ownerConfig], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`runtime role "${APP}" granted its privileges`);
    const missing = await runCli(['store', 'migrate', '--runtime-role', `nobody_${suffix}`, '--config', ownerConfig], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no PostgreSQL role named/);
  });

  it('the server runs as the runtime role: keys, agents, issuance, revocation, checkpoints; no retention without a floor', async () => {
    const parsed = parseConfig(readFileSync(appConfig, 'utf8'), appConfig, env);
    services = await createServices(parsed, { env, logger: captureLogger().logger, actor: 'server' });
    server = await startServer(services, { host: '127.0.0.1', port: 0 }, { drainIdleMs: 0 });
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', appConfig], env);
    expect(created.code, created.stderr).toBe(0);
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    const issued = await issue(server.url, token, { backend: 'demo', scopes: ['read'] });
    expect(issued.status).toBe(201);
    const revoked = await fetch(`${server.url}/v1/credentials/${issued.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(revoked.status).toBe(200);
    // Key-pair agents: created, keyed and re-keyed by the runtime role.
    const keyFile = (name: string) => `${appConfig}.${name}.pem`;
    const keyPair = await runCli(
      ['agent', 'create', 'kp', '--can', 'demo:read', '--generate-key', keyFile('a'), '--config', appConfig],
      env,
    );
    expect(keyPair.code, keyPair.stderr).toBe(0);
    const added = await runCli(['agent', 'key', 'add', 'kp', '--generate-key', keyFile('b'), '--json', '--config', appConfig], env);
    expect(added.code, added.stderr).toBe(0);
    const oldJkt = keyPair.stdout.trim();
    const removed = await runCli(['agent', 'key', 'remove', 'kp', oldJkt, '--config', appConfig], env);
    expect(removed.code, removed.stderr).toBe(0);
    const rotate = await runCli(['keys', 'rotate', '--force', '--config', appConfig], env);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(await services.auditCheckpoints.checkpointNow()).toBeDefined();
    // Retention's one delete path is open to the runtime role, but never to rows younger than
    // the floor the owner set — none here, as the owner's config has no audit.retention
    // (postgres-retention-floor.test.ts prunes past one).
    const store = createPostgresStore({ url: databaseUrl(DB, APP), display: DB, poolSize: 1 });
    try {
      const anchor = (await store.audit.checkpoints()).at(-1)!.seq;
      await expect(store.audit.pruneBelow(anchor, pruneRecord(services))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
      expect((await store.audit.query({ order: 'asc', limit: 1 }))[0]?.seq).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('the runtime role stores, rotates, deletes and rewraps secrets, and cannot DELETE their rows', async () => {
    const op = (args: string[], input = '') => runCli([...args, '--config', appConfig], env, input);
    for (const [args, input] of [
      [['secret', 'put', 'prod/app/key'], 'v1'],
      [['secret', 'rotate', 'prod/app/key', '--grace', '0s'], 'v2'],
      [['secret', 'delete', 'prod/app/key'], ''],
      [['keys', 'rewrap'], ''],
    ] as const) {
      const r = await op([...args], input);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const err = (await app.query('DELETE FROM secret_versions').catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe('42501');
  });

  it('the runtime role cannot UPDATE, DELETE or TRUNCATE audit rows, nor disable their triggers', async () => {
    const denied = async (sql: string) => {
      const err = (await app.query(sql).catch((e: unknown) => e)) as { code?: string };
      expect(err.code, sql).toBe('42501'); // insufficient_privilege
    };
    for (const table of ['audit_events', 'audit_checkpoints', 'audit_signing_keys', 'audit_prune_gate']) {
      await denied(`DELETE FROM ${table}`);
      await denied(`TRUNCATE ${table}`);
      await denied(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    }
    await denied("UPDATE audit_events SET actor = 'mallory'");
    await denied("UPDATE audit_checkpoints SET hash = 'x'");
    await denied("UPDATE audit_signing_keys SET public_x = 'evil'");
    await denied('UPDATE audit_prune_gate SET below_seq = 0');
    await denied('DROP TABLE audit_events');
    await denied("INSERT INTO schema_migrations (version, name) VALUES (99, 'x')");
    // A registered key is added or removed, never edited in place.
    await denied("UPDATE agent_keys SET x = 'evil'");
    // What it needs it has: reading the log, and the sealed columns of the audit signing key (KEK rewrap).
    expect((await app.query('SELECT count(*) FROM audit_events')).rows[0].count).not.toBe('0');
    await app.query('UPDATE audit_signing_keys SET kek_id = kek_id');
  });

  it('a superuser who gets past grants and triggers is still caught by audit verify', async () => {
    const before = await runCli(['audit', 'verify', '--json', '--config', appConfig], env);
    expect(before.code, before.stdout + before.stderr).toBe(0);
    const { seq } = (await adminQuery<{ seq: number }>('SELECT max(seq)::int AS seq FROM audit_events', [], DB))[0]!;
    await adminQuery(
      `BEGIN; ALTER TABLE audit_events DISABLE TRIGGER USER;
       UPDATE audit_events SET actor = 'mallory' WHERE seq = ${seq};
       ALTER TABLE audit_events ENABLE TRIGGER USER; COMMIT;`,
      [],
      DB,
    );
    const after = await runCli(['audit', 'verify', '--json', '--config', appConfig], env);
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout).problem).toMatchObject({ seq, kind: 'modified' });
  });
});
