import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/store/sqlite/connect.js';
import { sqliteStoreFromDb } from '../../src/store/sqlite/index.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { demoYaml, issue, startBroker, type TestBroker, tempDir, testEnv } from '../helpers/harness.js';

describe('audit is fail-closed and bounded', () => {
  let broker: TestBroker;
  let db: Database.Database;
  let token: string;
  let attacker: Database.Database;
  const count = (table: string) => (attacker.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

  beforeAll(async () => {
    // The server's own connection is kept, so the test can limit its pages.
    broker = await startBroker({ extra: 'audit:\n  write_timeout: 2s', store: (path) => sqliteStoreFromDb((db = openSqlite(path))) });
    token = await broker.agent('bot', 'demo:read');
    attacker = new Database(join(broker.dir, 'data', 'creddy.db'));
  });
  afterAll(async () => {
    attacker?.close();
    await broker?.stop();
  });

  const expectFailClosed = async () => {
    const before = count('credentials');
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(r.body.token).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toMatch(/eyJ/);
    expect(count('credentials')).toBe(before);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  };
  const expectRecovered = async () => {
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
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
      const r = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
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
    const report = await verifyStore(broker.services.store, loadAuditKeys({ env: broker.env }));
    expect(report.problem).toBeNull();
    expect(report.hmac).toBe('verified');
  });
});

describe('fail-closed in the built server process (audit commits on its worker thread)', () => {
  it('an injected write failure → 503 and no credential; recovers', async () => {
    const { dir, cleanup } = tempDir();
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data') }));
    const env = testEnv();
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', configPath], env);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const { url, child, exited } = await spawnServer(configPath, env);
    try {
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
