import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentProblem, applyFact, emptyFacts } from '../../src/audit/state-facts.js';
import type { AuditRow } from '../../src/model/audit.js';
import { openSqlite } from '../../src/store/sqlite/connect.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker, tempDir } from '../helpers/harness.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * An agent's life after `agent create`, against a running server: every change is an audit row
 * carrying the new facts, so the server (which checks agent rows against the log) takes it at
 * once and `audit verify` still passes.
 */
describe('agent lifecycle', () => {
  let broker: TestBroker;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
  const create = async (name: string, ...extra: string[]) =>
    JSON.parse((await op(['agent', 'create', name, '--can', 'demo:read', '--json', ...extra])).stdout) as {
      id: string;
      token: string;
      expires_at: string | null;
    };
  const verified = async () => {
    const result = await op(['audit', 'verify', '--json']);
    expect(result.code, result.stderr).toBe(0);
  };

  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker.stop());

  it('agents expire after 90 days by default; --expires never opts out', async () => {
    const before = Date.now();
    const made = await create('default-ttl');
    expect(Date.parse(made.expires_at!) - before).toBeGreaterThan(89.9 * 86_400_000);
    expect(Date.parse(made.expires_at!) - before).toBeLessThan(90.1 * 86_400_000);
    expect((await create('forever', '--expires', 'never')).expires_at).toBeNull();
  });

  it('a grant given twice is held once, as agent grant would hold it', async () => {
    const made = JSON.parse((await op(['agent', 'create', 'twice', '--can', 'demo:read,demo:read', '--json'])).stdout) as {
      grants: string[];
    };
    expect(made.grants).toEqual(['demo:read']);
  });

  it('agents.default_ttl in the config sets the default', async () => {
    const { dir, cleanup } = tempDir();
    const config = join(dir, 'short.yaml');
    writeFileSync(
      config,
      `data_dir: ${join(dir, 'data')}\nagents:\n  default_ttl: 7d\nbackends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n`,
    );
    const made = JSON.parse(
      (await runCli(['agent', 'create', 'x', '--can', 'demo:read', '--json', '--config', config], broker.env)).stdout,
    );
    expect(Date.parse(made.expires_at) - Date.now()).toBeLessThan(7 * 86_400_000 + 5000);
    cleanup();
  });

  it('rotate-token: the new token works at once and the old one stops; audited with the new digest', async () => {
    const { token: old } = await create('rotating');
    expect((await issue(broker.url, old, { backend: 'demo' })).status).toBe(201);
    const rotated = await op(['agent', 'rotate-token', 'rotating', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { token } = JSON.parse(rotated.stdout) as { token: string };
    expect(token).not.toBe(old);
    expect((await issue(broker.url, token, { backend: 'demo' })).status).toBe(201);
    const refused = await issue(broker.url, old, { backend: 'demo' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('ERR_UNAUTHENTICATED');
    const [row] = await broker.services.store.audit.query({ type: 'agent.updated', agent: 'rotating', limit: 1 });
    expect(row?.details).toMatchObject({ token_sha256: sha256(token), changed: ['token'], grants: ['demo:read'] });
    expect(JSON.stringify(row)).not.toContain(token);
    // Plain output: the token alone on stdout, the explanation on stderr.
    const plain = await op(['agent', 'rotate-token', 'rotating']);
    expect(plain.stdout).toMatch(/^ckr_[\w-]{43}\n$/);
    expect(plain.stderr).toContain('the old one no longer works');
    await verified();
  });

  it('rotate-token --expires renews the lifetime', async () => {
    await create('renewing', '--expires', '1d');
    const renewed = JSON.parse((await op(['agent', 'rotate-token', 'renewing', '--expires', '30d', '--json'])).stdout);
    expect(Date.parse(renewed.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    await verified();
  });

  it('grant and revoke-grant change what the running server allows; revoke-grant revokes credentials no longer covered', async () => {
    const { token } = await create('granted');
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['write'] })).status).toBe(403);
    const granted = await op(['agent', 'grant', 'granted', '--can', 'demo:write', '--json']);
    expect(JSON.parse(granted.stdout)).toEqual({ name: 'granted', grants: ['demo:read', 'demo:write'], added: ['demo:write'] });
    const write = await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
    expect(write.status).toBe(201);
    const read = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect((await op(['agent', 'grant', 'granted', '--can', 'demo:write'])).stdout).toContain('nothing changed');

    const removed = await op(['agent', 'revoke-grant', 'granted', '--can', 'demo:write', '--json']);
    expect(JSON.parse(removed.stdout)).toEqual({ name: 'granted', grants: ['demo:read'], credentials_revoked: 1 });
    expect((await broker.services.store.credentials.get(write.body.id))?.revokedAt).not.toBeNull();
    expect((await broker.services.store.credentials.get(read.body.id))?.revokedAt).toBeNull();
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['write'] })).body.error.code).toBe('ERR_SCOPE_DENIED');

    const notHeld = await op(['agent', 'revoke-grant', 'granted', '--can', 'demo:write']);
    expect(notHeld.code).toBe(2);
    expect(notHeld.stderr).toContain('not held: demo:write');
    const last = await op(['agent', 'revoke-grant', 'granted', '--can', 'demo:read']);
    expect(last.code).toBe(2);
    expect(last.stderr).toContain('revoke the agent instead');
    await verified();
  });

  it('a revoked name can be used again; the old record stays, listed as revoked', async () => {
    const first = await create('reused');
    expect((await op(['agent', 'revoke', 'reused'])).code).toBe(0);
    const again = await op(['agent', 'create', 'reused', '--can', 'demo:read', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as { id: string; token: string };
    expect(second.id).not.toBe(first.id);
    expect((await issue(broker.url, second.token, { backend: 'demo' })).status).toBe(201);
    expect((await issue(broker.url, first.token, { backend: 'demo' })).body.error.code).toBe('ERR_AGENT_REVOKED');
    const listed = JSON.parse((await op(['agent', 'list', '--json'])).stdout) as Array<{ name: string; id: string; status: string }>;
    expect(listed.filter((a) => a.name === 'reused').map((a) => [a.id, a.status])).toEqual([
      [first.id, 'revoked'],
      [second.id, 'active'],
    ]);
    // An unrevoked name is still taken.
    const dup = await op(['agent', 'create', 'reused', '--can', 'demo:read']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('ERR_CONFLICT');
    await verified();
  });

  it('an agent changed in the table without its audit row is refused by the server', async () => {
    const { token } = await create('tampered');
    const db = new Database(join(broker.dir, 'data', 'creddy.db'));
    db.prepare('UPDATE agents SET grants = ? WHERE name = ?').run(JSON.stringify([{ backend: 'demo', scope: '*' }]), 'tampered');
    db.close();
    const refused = await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
    expect(refused.status).toBe(401);
  });
});

describe('agents store migration (v3)', () => {
  it('keeps existing agents, with their name as id; one unrevoked record per name', () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'creddy.db');
    const v2 = new Database(path);
    for (const m of MIGRATIONS.filter((m) => m.version <= 2)) v2.exec(m.sql);
    v2.pragma('user_version = 2');
    v2.prepare('INSERT INTO agents (name, token_hash, grants, created_at, expires_at, revoked_at) VALUES (?, ?, ?, 1, NULL, NULL)').run(
      'old',
      'a'.repeat(64),
      '[]',
    );
    v2.close();
    const db = openSqlite(path);
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(3);
    expect(db.prepare('SELECT id, name FROM agents').all()).toEqual([{ id: 'old', name: 'old' }]);
    const insert = db.prepare('INSERT OR IGNORE INTO agents (id, name, token_hash, grants, created_at) VALUES (?, ?, ?, ?, 2)');
    expect(insert.run('agt_x', 'old', 'b'.repeat(64), '[]').changes).toBe(0);
    db.prepare('UPDATE agents SET revoked_at = 3 WHERE id = ?').run('old');
    expect(insert.run('agt_x', 'old', 'b'.repeat(64), '[]').changes).toBe(1);
    db.close();
    cleanup();
  });

  it('rows written before agent ids existed still describe the record they made', () => {
    const row = (seq: number, type: AuditRow['type'], details: Record<string, unknown> | null): AuditRow =>
      ({ seq, type, agent: 'old', details }) as AuditRow;
    const facts = emptyFacts();
    applyFact(facts, row(1, 'agent.created', { grants: ['demo:read'], expires_at: null, token_sha256: 'a'.repeat(64) }));
    applyFact(facts, row(2, 'agent.revoked', null));
    applyFact(
      facts,
      row(3, 'agent.created', { agent_id: 'agt_new', grants: ['demo:read'], expires_at: null, token_sha256: 'b'.repeat(64) }),
    );
    const record = { name: 'old', grants: [{ backend: 'demo', scope: 'read' }], createdAt: 1, expiresAt: null };
    expect(agentProblem(facts, { ...record, id: 'old', tokenHash: 'a'.repeat(64), revokedAt: 2 }, 0)).toBeNull();
    expect(agentProblem(facts, { ...record, id: 'agt_new', tokenHash: 'b'.repeat(64), revokedAt: null }, 0)).toBeNull();
  });
});
