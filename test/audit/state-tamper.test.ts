import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { attack, checkpointsEvery, copyDatabase, dbPath } from './helpers.js';

/**
 * State outside the chain (issue 14): an attacker with write access to the database file edits
 * the rows that decide access. The running server refuses what disagrees with the audit log, and
 * `audit verify` names the row.
 */
describe('rows that decide access are tied to the audit log', () => {
  let broker: TestBroker;
  const jwksKids = async () =>
    ((await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  const verifyCopy = async (name: string, edit: Parameters<typeof attack>[1]) => {
    const { config, db } = copyDatabase(broker, name);
    attack(db, edit);
    const r = await runCli(['audit', 'verify', '--json', '--config', config], broker.env);
    return { code: r.code, problem: (JSON.parse(r.stdout) as { problem: { kind: string; detail: string } | null }).problem };
  };

  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(1000) });
  });
  afterAll(async () => broker?.stop());

  it('an un-revoked or deleted credential row still reads as revoked; verify names it', async () => {
    const token = await broker.agent('holder', 'demo:read');
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
      ids.push(r.body.id);
      const del = await fetch(`${broker.url}/v1/credentials/${r.body.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(del.status).toBe(200);
    }
    const [unrevoked, deleted] = ids as [string, string];
    attack(dbPath(broker), (db) => {
      db.prepare('UPDATE credentials SET revoked_at = NULL WHERE jti = ?').run(unrevoked);
      db.prepare('DELETE FROM credentials WHERE jti = ?').run(deleted);
    });
    for (const jti of ids) {
      const status = (await (await fetch(`${broker.url}/v1/revocations/${jti}`)).json()) as { revoked: boolean };
      expect(status.revoked).toBe(true);
    }
    const { code, problem } = await verifyCopy('unrevoked', () => {});
    expect(code).toBe(1);
    expect(problem?.detail).toMatch(/credential .*(row says unrevoked|row is gone)/);
  });

  it('a deleted credential row that was never revoked is named by verify', async () => {
    const token = await broker.agent('deleted-row', 'demo:read');
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(r.status).toBe(201);
    const { code, problem } = await verifyCopy('deleted-issued', (db) =>
      db.prepare('DELETE FROM credentials WHERE jti = ?').run(r.body.id),
    );
    expect(code).toBe(1);
    // The first problem is named (an earlier test deleted another row the same way).
    expect(problem?.detail).toMatch(/^credential \S+: its row is gone, though the log records its issuance at seq \d+$/);
  });

  it('a revoked agent whose row is restored (revoked_at cleared, grants widened) stays refused', async () => {
    const token = await broker.agent('fired', 'demo:read');
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
    const revoked = await runCli(['agent', 'revoke', 'fired', '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    attack(dbPath(broker), (db) => {
      db.prepare('UPDATE agents SET revoked_at = NULL, grants = ? WHERE name = ?').run(
        JSON.stringify([{ backend: 'demo', scope: '*' }]),
        'fired',
      );
    });
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('ERR_AGENT_REVOKED');
    expect(broker.logLines.some((l) => l.includes('agent row does not match the audit log') && l.includes('fired'))).toBe(true);
  });

  it("an active agent's widened grants are refused; verify names the agent", async () => {
    const token = await broker.agent('widened', 'demo:read');
    attack(dbPath(broker), (db) => {
      db.prepare('UPDATE agents SET grants = ? WHERE name = ?').run(JSON.stringify([{ backend: 'demo', scope: '*' }]), 'widened');
    });
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('ERR_UNAUTHENTICATED');
    const { code, problem } = await verifyCopy('widened', () => {});
    expect(code).toBe(1);
    expect(problem).toMatchObject({ kind: 'modified' });
    expect(problem?.detail).toMatch(/agent "(widened|fired)": /);
    // put it back for the tests that follow
    attack(dbPath(broker), (db) =>
      db.prepare('UPDATE agents SET grants = ? WHERE name = ?').run(JSON.stringify([{ backend: 'demo', scope: 'read' }]), 'widened'),
    );
  });

  it("a swapped token digest does not let the attacker's own token in", async () => {
    await broker.agent('victim', 'demo:read,demo:write');
    const attackerToken = `ckr_${Buffer.alloc(32, 7).toString('base64url')}`;
    attack(dbPath(broker), (db) => {
      db.prepare('UPDATE agents SET token_hash = ? WHERE name = ?').run(createHash('sha256').update(attackerToken).digest('hex'), 'victim');
    });
    const r = await issue(broker.url, attackerToken, { backend: 'demo', scopes: ['write'] });
    expect(r.status).toBe(401);
  });

  it('a signing key row edited back from revoked, or given another public key, leaves the JWKS', async () => {
    const list = await runCli(['keys', 'list', '--json', '--config', broker.configPath], broker.env);
    const next = (JSON.parse(list.stdout) as Array<{ kid: string; state: string }>).find((k) => k.state === 'next')!.kid;
    expect(await jwksKids()).toContain(next);
    const revoked = await runCli(['keys', 'revoke', next, '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    attack(dbPath(broker), (db) =>
      db
        .prepare("UPDATE signing_keys SET state = 'retired', revoked_at = NULL, retired_at = ? WHERE kid = ?")
        .run(Math.floor(Date.now() / 1000), next),
    );
    await broker.services.keyring.refresh();
    expect(await jwksKids()).not.toContain(next);

    const current = (await broker.services.store.keys.list()).find((k) => k.state === 'next')!;
    const otherX = createHash('sha256').update('attacker').digest('base64url').slice(0, 43);
    attack(dbPath(broker), (db) => db.prepare('UPDATE signing_keys SET public_x = ? WHERE kid = ?').run(otherX, current.kid));
    await broker.services.keyring.refresh();
    expect(await jwksKids()).not.toContain(current.kid);
    expect(broker.logLines.some((l) => l.includes('signing key row does not match the audit log'))).toBe(true);
  });
});
