/**
 * Revocations of one credential racing each other — parallel DELETEs on two servers sharing one
 * SQLite file, on two PostgreSQL replicas, and RFC 7009 revocations among them: one wins and is recorded once
 * (`credential.revoked`, `downstream.revoked`), the others answer as for a credential already
 * revoked (DELETE: 409 ERR_CONFLICT; RFC 7009: 200), and the downstream role is dropped once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices } from '../../src/services.js';
import { adminUrlEnv, canLogin, createPgFixture, type PgFixture } from '../backends/postgres/fixture.js';
import { captureLogger, issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { adminQuery } from '../helpers/pg.js';
import { type ReplicaSet, startReplicas } from '../replicas/harness.js';

const revokeBy = (url: string, token: string, id: string) =>
  fetch(`${url}/v1/credentials/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as { error?: { code: string }; downstream?: string },
  }));

const revokeByOAuth = (url: string, token: string, jwt: string) =>
  fetch(`${url}/oauth/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: jwt }).toString(),
  }).then((r) => r.status);

/** Exactly one DELETE revoked it (downstream too); every other one was told it already was. */
function expectOneWinner(answers: Awaited<ReturnType<typeof revokeBy>>[]): void {
  const won = answers.filter((a) => a.status === 200);
  expect(won, JSON.stringify(answers)).toHaveLength(1);
  expect(won[0]!.body.downstream).toBe('revoked');
  for (const lost of answers.filter((a) => a.status !== 200)) {
    expect(lost).toMatchObject({ status: 409, body: { error: { code: 'ERR_CONFLICT' } } });
  }
}

describe('concurrent revocations on two servers sharing one SQLite file (as `--workers 2`)', () => {
  let fx: PgFixture;
  let broker: TestBroker;
  let second: RunningServer;
  let token: string;
  beforeAll(async () => {
    fx = await createPgFixture();
    broker = await startBroker({ backends: fx.backendsYaml(), env: adminUrlEnv(fx) });
    token = await broker.agent('etl', 'db:read');
    // Another server on the same file: its own connections, audit writer and reaper.
    const services = await createServices(loadConfig(broker.configPath, broker.env), {
      env: broker.env,
      logger: captureLogger().logger,
      actor: 'server',
    });
    second = await startServer(services, { host: '127.0.0.1', port: 0 }, { drainIdleMs: 0 });
  });
  afterAll(async () => {
    await second?.stop();
    await broker?.stop();
    await fx?.drop();
  });

  it.each([1, 2, 3])('one revocation wins and is audited once; the others get 409 (round %i)', async () => {
    const res = await issue(broker.url, token, { backend: 'db', scopes: ['read'] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await canLogin(res.body.credential.url)).toBe(true);
    const urls = [broker.url, second.url, broker.url, second.url, broker.url, second.url];
    expectOneWinner(await Promise.all(urls.map((url) => revokeBy(url, token, res.body.id))));
    const rows = async (type: string) => broker.services.store.audit.query({ jti: res.body.id, type, limit: 10 });
    expect(await rows('credential.revoked')).toHaveLength(1);
    expect(await rows('downstream.revoked')).toHaveLength(1);
    expect(await canLogin(res.body.credential.url)).toBe(false);
  });
});

describe('concurrent revocations across two replicas (PostgreSQL)', () => {
  let fx: PgFixture;
  let set: ReplicaSet;
  let token: string;
  beforeAll(async () => {
    fx = await createPgFixture();
    set = await startReplicas(2, { backendsYaml: fx.backendsYaml(), env: adminUrlEnv(fx) });
    token = await set.agent('etl', 'db:read');
  });
  afterAll(async () => {
    await set?.stop();
    await fx?.drop();
  });

  it('one revocation wins, whichever replica and endpoint; it alone is audited and drops the role', async () => {
    const [a, b] = set.replicas.map((r) => r.url) as [string, string];
    const res = await issue(a, token, { backend: 'db', scopes: ['read'] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [oauthA, oauthB, ...answers] = await Promise.all([
      revokeByOAuth(a, token, res.body.token),
      revokeByOAuth(b, token, res.body.token),
      ...[a, b, a, b].map((url) => revokeBy(url, token, res.body.id)),
    ]);
    // RFC 7009: 200 whether this request revoked it or found it revoked.
    expect([oauthA, oauthB]).toEqual([200, 200]);
    // One of the six revoked it; at most one DELETE can have been that one.
    expect(answers.filter((x) => x.status === 200).length).toBeLessThanOrEqual(1);
    for (const lost of answers.filter((x) => x.status !== 200)) expect(lost).toMatchObject({ status: 409 });
    const rows = await adminQuery<{ type: string }>(
      "SELECT type FROM audit_events WHERE jti = $1 AND type IN ('credential.revoked', 'downstream.revoked') ORDER BY seq",
      [res.body.id],
      set.db.name,
    );
    expect(rows.map((r) => r.type)).toEqual(['credential.revoked', 'downstream.revoked']);
    expect(await canLogin(res.body.credential.url)).toBe(false);
  });

  it('DELETEs alone: exactly one 200, the rest 409', async () => {
    const [a, b] = set.replicas.map((r) => r.url) as [string, string];
    const res = await issue(b, token, { backend: 'db', scopes: ['read'] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expectOneWinner(await Promise.all([a, b, a, b].map((url) => revokeBy(url, token, res.body.id))));
    const [{ n }] = (await adminQuery<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE jti = $1 AND type = 'credential.revoked'",
      [res.body.id],
      set.db.name,
    )) as [{ n: number }];
    expect(n).toBe(1);
  });
});
