import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/** State changes and their audit rows commit together: when the row cannot be written, nothing changes. */
describe('audited state changes are atomic with their rows', () => {
  let broker: TestBroker;
  let db: Database.Database;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
  const failAudit = () =>
    db.exec("CREATE TRIGGER test_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  const healAudit = () => db.exec('DROP TRIGGER test_fail');

  beforeAll(async () => {
    broker = await startBroker();
    db = new Database(join(broker.dir, 'data', 'creddy.db'));
  });
  afterAll(async () => {
    db.close();
    await broker.stop();
  });

  it('agent create: no agent without its agent.created row', async () => {
    failAudit();
    try {
      const created = await op(['agent', 'create', 'ghost', '--can', 'demo:read']);
      expect(created.code).toBe(1);
      expect(created.stderr).toContain('ERR_AUDIT_UNAVAILABLE');
      expect(created.stdout).toBe(''); // no token shown for an agent that does not exist
    } finally {
      healAudit();
    }
    expect(await broker.services.store.agents.byName('ghost')).toBeUndefined();
    expect((await op(['agent', 'create', 'ghost', '--can', 'demo:read'])).code).toBe(0); // the name is free
  });

  it('agent revoke and credential revoke: nothing is revoked without its row', async () => {
    const token = await broker.agent('holder', 'demo:read');
    const held = await issue(broker.url, token, { backend: 'demo' });
    expect(held.status).toBe(201);

    failAudit();
    try {
      const del = await fetch(`${broker.url}/v1/credentials/${held.body.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(del.status).toBe(503);
      expect((await op(['agent', 'revoke', 'holder'])).code).toBe(1);
    } finally {
      healAudit();
    }
    expect((await broker.services.store.agents.byName('holder'))?.revokedAt).toBeNull();
    expect((await broker.services.store.credentials.get(held.body.id))?.revokedAt).toBeNull();

    // Healed: both go through, each with its row.
    const del = await fetch(`${broker.url}/v1/credentials/${held.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(del.status).toBe(200);
    expect((await op(['agent', 'revoke', 'holder'])).code).toBe(0);
    const rows = await broker.services.store.audit.query({ agent: 'holder', limit: 10, order: 'asc' });
    expect(rows.map((r) => r.type)).toEqual(['agent.created', 'credential.issued', 'credential.revoked', 'agent.revoked']);
  });
});
