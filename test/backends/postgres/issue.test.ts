/**
 * `type: postgres` on the machine's real PostgreSQL: each credential is a login role that can do
 * what its scopes map to and no more, dies (sessions ended, role dropped) on revocation or at
 * expiry, and an admin with too few rights gets a clear error. The test server trusts loopback
 * logins, so "can log in" means the role exists with LOGIN; the password itself is proven by the
 * stored SCRAM verifier (scram.test.ts checks its math).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/types.js';
import { runCli } from '../../helpers/cli.js';
import { eventually, issue, startBroker, type TestBroker } from '../../helpers/harness.js';
import { adminQuery } from '../../helpers/pg.js';
import { adminUrlEnv, canLogin, connectAs, createPgFixture, type PgFixture } from './fixture.js';

let fx: PgFixture;
let broker: TestBroker;
let token: string;

beforeAll(async () => {
  fx = await createPgFixture();
  broker = await startBroker({ backends: fx.backendsYaml(), env: adminUrlEnv(fx), reaperIntervalMs: 25 });
  token = await broker.agent('etl', 'db:read,db:write,db-lp:read,db-weak:read,db-strong:write');
});
afterAll(async () => {
  await broker?.stop();
  await fx?.drop();
});

const get = (backend: string, scopes: string[], ttl?: number) =>
  issue(broker.url, token, { backend, scopes, ...(ttl === undefined ? {} : { ttl }) });

const memberships = async (user: string) =>
  (
    await adminQuery<{ rolname: string }>(
      `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = $1 ORDER BY 1`,
      [user],
    )
  ).map((r) => r.rolname);

describe('type: postgres', () => {
  it('read: a new login role, valid until the credential expires, member of the read roles only', async () => {
    const res = await get('db', ['read']);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const c = res.body.credential;
    expect(c).toMatchObject({
      type: 'postgres_role',
      host: '127.0.0.1',
      port: 5432,
      database: fx.db.name,
      roles: [fx.readRole],
      expires_at: res.body.expires_at,
      revocation: 'immediate',
    });
    expect(c.user).toMatch(new RegExp(`^${fx.prefix}[0-9a-f]{24}$`));
    expect(c.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.url).toBe(`postgresql://${c.user}:${c.password}@127.0.0.1:5432/${fx.db.name}`);

    const [role] = await adminQuery<{ rolcanlogin: boolean; rolvaliduntil: Date; rolsuper: boolean; rolpassword: string; comment: string }>(
      `SELECT rolcanlogin, rolvaliduntil, rolsuper, rolpassword, shobj_description(oid, 'pg_authid') AS comment FROM pg_authid WHERE rolname = $1`,
      [c.user],
    );
    expect(role).toMatchObject({ rolcanlogin: true, rolsuper: false });
    expect(role!.rolvaliduntil.toISOString().replace('.000', '')).toBe(res.body.expires_at);
    // PostgreSQL kept the verifier creddy sent (had it been malformed, it would have hashed it as a password).
    expect(role!.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(JSON.parse(role!.comment.replace(/^creddy:/, ''))).toEqual({
      backend: 'db',
      jti: res.body.id,
      exp: Date.parse(res.body.expires_at) / 1000,
    });
    expect(await memberships(c.user)).toEqual([fx.readRole]);

    const session = await connectAs(c.url);
    try {
      expect((await session.query('SELECT note FROM orders WHERE id = 1')).rows).toEqual([{ note: 'first' }]);
      await expect(session.query("INSERT INTO orders VALUES (2, 'nope')")).rejects.toMatchObject({ code: '42501' });
      await expect(session.query('CREATE TABLE mine (x int)')).rejects.toMatchObject({ code: '42501' });
      await expect(session.query(`SET ROLE ${fx.writeRole}`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await session.end();
    }

    const [row] = await broker.services.store.audit.query({ jti: res.body.id, type: 'credential.issued', limit: 1 });
    expect(row?.details).toMatchObject({ role: c.user, member_of: [fx.readRole], downstream: { type: 'postgres_role' } });
    const everything = JSON.stringify(await broker.services.store.audit.query({ limit: 10_000 })) + broker.logLines.join('\n');
    expect(everything).not.toContain(c.password);
  });

  it('write: can insert; revocation ends its open session and drops the role at once', async () => {
    const res = await get('db', ['write']);
    const c = res.body.credential;
    expect(c.roles).toEqual([fx.readRole, fx.writeRole].sort());
    const session = await connectAs(c.url);
    await session.query(`INSERT INTO orders VALUES (100, 'by ${c.user}')`);
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBeGreaterThanOrEqual(2);

    const revoked = await fetch(`${broker.url}/v1/credentials/${res.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await revoked.json()).toMatchObject({ downstream: 'revoked' });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => {});
    expect(await canLogin(c.url)).toBe(false);
    expect(await fx.leftoverRoles()).not.toContain(c.user);
    // The row it wrote into the operator's table stays: it is not an object the user owns.
    expect(await adminQuery('SELECT note FROM orders WHERE id = 100', [], fx.db.name)).toHaveLength(1);
    const rows = await broker.services.store.audit.query({ jti: res.body.id, type: 'downstream.revoked', limit: 5 });
    expect(rows.map((r) => r.details)).toEqual([{ reason: 'revoked' }]);
  });

  it('a role that created objects is dropped with them: nothing it owned outlives it, nothing goes to the admin role', async () => {
    await adminQuery(`GRANT CREATE ON SCHEMA public TO ${fx.writeRole}`, [], fx.db.name);
    try {
      const res = await get('db', ['write']);
      const session = await connectAs(res.body.credential.url);
      await session.query('CREATE TABLE scratch (x int)');
      await session.end();
      const revoked = await fetch(`${broker.url}/v1/credentials/${res.body.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await revoked.json()).toMatchObject({ downstream: 'revoked' });
      expect(await fx.leftoverRoles()).not.toContain(res.body.credential.user);
      // Kept objects go to reassign_owned_to when configured (owned.test.ts); never to the admin.
      expect(await adminQuery("SELECT tableowner FROM pg_tables WHERE tablename = 'scratch'", [], fx.db.name)).toEqual([]);
    } finally {
      await adminQuery(`REVOKE CREATE ON SCHEMA public FROM ${fx.writeRole}`, [], fx.db.name);
    }
  });

  it('at expiry the reaper ends the sessions and drops the role, once', async () => {
    const res = await get('db', ['read'], 60);
    const c = res.body.credential;
    const session = await connectAs(c.url);
    broker.clock.advance(61);
    await eventually(async () => !(await fx.leftoverRoles()).includes(c.user));
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => {});
    expect(await canLogin(c.url)).toBe(false);
    await eventually(async () => (await broker.services.store.credentials.get(res.body.id))?.downstreamRevokedAt != null);
    // More passes change nothing: one downstream.revoked row, by the reaper, for expiry.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const rows = await broker.services.store.audit.query({ jti: res.body.id, type: 'downstream.revoked', limit: 5 });
    expect(rows.map((r) => [r.actor, r.details])).toEqual([['reaper', { reason: 'expired' }]]);
  });

  it('a least-privilege admin (CREATEROLE, pg_signal_backend, no superuser) issues and revokes', async () => {
    const res = await get('db-lp', ['read']);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const session = await connectAs(res.body.credential.url);
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBeGreaterThan(0);
    await fetch(`${broker.url}/v1/credentials/${res.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => {});
    expect(await fx.leftoverRoles()).not.toContain(res.body.credential.user);
    expect(await broker.services.backends.get('db-lp')!.check!()).toEqual([]);
  });

  it('an admin with too few rights: a clear 502 at issuance, audited; check() says what to grant', async () => {
    const before = await fx.leftoverRoles();
    const res = await get('db-weak', ['read']);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_MISCONFIGURED');
    expect(res.body.error.message).toMatch(/permission denied to create role/);
    expect(res.body.error.message).toMatch(/needs CREATEROLE, pg_signal_backend/);
    const [denied] = await broker.services.store.audit.query({ agent: 'etl', type: 'credential.denied', limit: 1 });
    expect(denied).toMatchObject({ backend: 'db-weak', reason: 'ERR_BACKEND_MISCONFIGURED' });
    expect(await fx.leftoverRoles()).toEqual(before);

    const problems = await (broker.services.backends.get('db-weak') as Backend).check!();
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`admin role "${fx.weakAdmin}" .* lacks CREATEROLE`)),
      expect.stringMatching(/cannot end the sessions of expired users \(GRANT pg_signal_backend/),
      expect.stringMatching(new RegExp(`may not grant role "${fx.readRole}"`)),
      expect.stringMatching(new RegExp(`may not grant role "${fx.writeRole}"`)),
    ]);
    expect(await broker.services.backends.get('db')!.check!()).toEqual([]);
  });

  it('refuses to grant a group role with more than data access, and names it', async () => {
    const res = await get('db-strong', ['write']);
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: 'ERR_BACKEND_MISCONFIGURED' });
    expect(res.body.error.message).toContain(fx.strongRole);
    expect(await broker.services.backends.get('db-strong')!.check!()).toEqual([
      `role "${fx.strongRole}" has BYPASSRLS: more than data access, creddy will not grant it`,
    ]);
  });

  it('creddy exec: the command gets PG* and DATABASE_URL, and the role dies when it ends', async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token };
    const exec = await runCli(
      [
        'exec',
        'db',
        '--scopes',
        'read',
        '--',
        'sh',
        '-c',
        'psql -XAtc "SELECT current_user || \' \' || count(*) FROM orders" && printf "%s" "$DATABASE_URL"',
      ],
      env,
    );
    expect(exec.code, exec.stderr).toBe(0);
    const [line, url] = exec.stdout.split('\n');
    const user = line!.split(' ')[0]!;
    expect(user.startsWith(fx.prefix)).toBe(true);
    expect(url).toContain(`postgresql://${user}:`);
    await eventually(async () => !(await fx.leftoverRoles()).includes(user));

    const printed = await runCli(['get', 'db', '--scopes', 'read', '--format', 'env'], env);
    for (const name of ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'DATABASE_URL']) {
      expect(printed.stdout).toMatch(new RegExp(`^export ${name}='[^']+'$`, 'm'));
    }
  });

  it('unknown scopes are refused before PostgreSQL is asked', async () => {
    expect((await get('db', ['admin'])).body.error.code).toBe('ERR_SCOPE_INVALID');
    expect((await get('db-lp', ['write'])).body.error.code).toBe('ERR_SCOPE_DENIED');
  });
});
