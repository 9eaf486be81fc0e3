/**
 * A role exists in PostgreSQL before its credential row exists in creddy's store. If the audit
 * write then fails, the broker drops the role before answering; if the broker is killed -9 in
 * between, the role carries creddy's prefix and a comment with its expiry, and the sweep (at the
 * next start, then every minute) drops it once it has expired. Either way no role is left behind.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SWEEP_AFTER_EXPIRY_S } from '../../../src/backends/postgres/index.js';
import { spawnServer } from '../../helpers/cli.js';
import { eventually, issue, startBroker, type TestBroker } from '../../helpers/harness.js';
import { adminUrlEnv, createPgFixture, type PgFixture } from './fixture.js';

let fx: PgFixture;
let broker: TestBroker;
let token: string;

beforeAll(async () => {
  fx = await createPgFixture();
  broker = await startBroker({ backends: fx.backendsYaml(), env: adminUrlEnv(fx) });
  token = await broker.agent('etl', 'db:read');
});
afterAll(async () => {
  await broker?.stop();
  await fx?.drop();
});

/** Holds the SQLite write lock of the broker's store, as a long transaction of another process would. */
function lockStore(): () => void {
  const raw = new Database(join(broker.dir, 'data', 'creddy.db'));
  raw.exec('BEGIN IMMEDIATE');
  return () => {
    raw.exec('ROLLBACK');
    raw.close();
  };
}

describe('type: postgres, crash safety', () => {
  it('an audit write that fails after CREATE ROLE drops the role before the 503', async () => {
    const release = lockStore();
    let res: Awaited<ReturnType<typeof issue>>;
    try {
      res = await issue(broker.url, token, { backend: 'db', scopes: ['read'] });
    } finally {
      release();
    }
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(await fx.leftoverRoles()).toEqual([]);
  });

  it('killed -9 between CREATE ROLE and the credential row: the sweep drops the role once it expired', async () => {
    // The first test's row may have committed late, once its lock was gone (and been revoked for it).
    const issuedBefore = await broker.services.store.audit.query({ agent: 'etl', type: 'credential.issued', limit: 10 });
    await broker.stopServer();
    const server = await spawnServer(broker.configPath, broker.env);
    let release = lockStore();
    let role: string | undefined;
    try {
      const pending = issue(server.url, token, { backend: 'db', scopes: ['read'], ttl: 60 }).catch((err: unknown) => err);
      // The role is committed; the audit row waits on the lock. Kill the broker now.
      await eventually(async () => (role = (await fx.leftoverRoles())[0]) !== undefined, 10_000);
      server.child.kill('SIGKILL');
      expect(await server.exited).toBeNull();
      expect(await pending).toBeInstanceOf(Error);
    } finally {
      release();
      release = () => {};
    }
    expect(await fx.leftoverRoles()).toEqual([role]);
    await broker.restart();
    // Nothing in creddy knows the role: no issued row, so no credential row for the reaper.
    expect(await broker.services.store.audit.query({ agent: 'etl', type: 'credential.issued', limit: 10 })).toEqual(issuedBefore);
    // It is not dropped before it has expired (plus the sweep's wait for the reaper)…
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await fx.leftoverRoles()).toEqual([role]);
    // …then the sweep at the next start drops it.
    await broker.stopServer();
    broker.clock.advance(60 + SWEEP_AFTER_EXPIRY_S + 1);
    await broker.restart();
    await eventually(async () => (await fx.leftoverRoles()).length === 0, 10_000);
    expect(broker.logLines.join('\n')).toMatch(/dropped a leftover creddy role past its expiry/);
  });
});
