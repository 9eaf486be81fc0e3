import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';
import { openSqlite } from '../../src/store/sqlite/connect.js';
import { sqliteStoreFromDb } from '../../src/store/sqlite/index.js';
import { captureLogger, demoYaml, issue, tempDir, testEnv } from '../helpers/harness.js';

describe('audit is fail-closed and bounded', () => {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'data', 'creddy.db');
  let db: Database.Database;
  let services: Services;
  let server: RunningServer;
  let token: string;
  let attacker: Database.Database;
  const env = testEnv();
  const count = (table: string) => (attacker.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

  beforeAll(async () => {
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data'), extra: 'audit:\n  write_timeout: 2s' }));
    const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
    db = openSqlite(path);
    services = await createServices(config, { env, logger: captureLogger().logger, actor: 'server', store: sqliteStoreFromDb(db) });
    server = await startServer(services, { host: '127.0.0.1', port: 0 });
    token = (await createAgent(services, { name: 'bot', grants: parseGrants('demo:read', services), ttlSeconds: null, actor: 'cli' }))
      .token;
    attacker = new Database(path);
  });
  afterAll(async () => {
    attacker?.close();
    await server?.stop();
    cleanup();
  });

  const expectFailClosed = async () => {
    const before = count('credentials');
    const r = await issue(server.url, token, { backend: 'demo', scopes: ['read'] });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(r.body.token).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toMatch(/eyJ/);
    expect(count('credentials')).toBe(before);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  };
  const expectRecovered = async () => {
    const r = await issue(server.url, token, { backend: 'demo', scopes: ['read'] });
    expect(r.status).toBe(201);
    expect(r.body.token).toMatch(/^eyJ/);
  };

  it('an injected write failure → 503, no credential; recovers when the store does', async () => {
    await expectRecovered();
    attacker.exec("CREATE TRIGGER test_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    await expectFailClosed();
    await expectFailClosed();
    attacker.exec('DROP TRIGGER test_fail');
    await expectRecovered();
  });

  it('a full disk (PRAGMA max_page_count) → 503, no credential; recovers', async () => {
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    let failed = false;
    // Free space left in the last pages takes a few rows; the first row that needs a page fails.
    for (let i = 0; i < 500 && !failed; i++) {
      const r = await issue(server.url, token, { backend: 'demo', scopes: ['read'] });
      if (r.status === 201) continue;
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
      expect(r.body.token).toBeUndefined();
      failed = true;
    }
    expect(failed).toBe(true);
    await expectFailClosed();
    db.pragma('max_page_count = 1073741823');
    await expectRecovered();
  });

  it('a locked database (another process holds the write lock) → 503 within the bound; recovers', async () => {
    attacker.exec('BEGIN IMMEDIATE');
    try {
      await expectFailClosed();
    } finally {
      attacker.exec('ROLLBACK');
    }
    await expectRecovered();
  });

  it('the chain is intact after all of it', async () => {
    const { verifyStore } = await import('../../src/audit/verify-store.js');
    const { loadAuditKeys } = await import('../../src/audit/key.js');
    const report = await verifyStore(services.store, loadAuditKeys({ env }));
    expect(report.problem).toBeNull();
    expect(report.hmac).toBe('verified');
  });
});

describe('fail-closed in the built server process (audit commits on its worker thread)', () => {
  it('an injected write failure → 503 and no credential; recovers', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI, runCli } = await import('../helpers/harness.js');
    const { dir, cleanup } = tempDir();
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data') }));
    const env = testEnv();
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', configPath], env);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const child = spawn(process.execPath, [CLI, 'server', '--config', configPath], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /creddy listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
      });
      expect((await issue(url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
      const conn = new Database(join(dir, 'data', 'creddy.db'));
      conn.exec("CREATE TRIGGER test_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
      const failed = await issue(url, token, { backend: 'demo', scopes: ['read'] });
      expect(failed.status).toBe(503);
      expect(failed.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
      expect(failed.body.token).toBeUndefined();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      conn.exec('DROP TRIGGER test_fail');
      conn.close();
      expect((await issue(url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      const verify = await runCli(['audit', 'verify', '--config', configPath], env);
      expect(verify.code, verify.stderr).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      cleanup();
    }
  });
});
