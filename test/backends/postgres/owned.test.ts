/**
 * What an issued user owns when it ends. A user with CREATE on a schema can leave a SECURITY
 * DEFINER function (executable by PUBLIC) or a view over pg_authid; whoever owns them afterwards
 * lends its rights to every later caller. So they are dropped with the user, or handed to the
 * `reassign_owned_to` role, which has no rights of its own; never to the admin role. A
 * least-privilege admin (CREATEROLE, not superuser) clears them too. Through the HTTP API on the
 * machine's PostgreSQL.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, issue, startBroker, type TestBroker } from '../../helpers/harness.js';
import { adminQuery, databaseUrl, type FreshDatabase, freshDatabase } from '../../helpers/pg.js';
import { adminUrlEnv, canLogin, connectAs, createPgFixture, type PgFixture } from './fixture.js';

let fx: PgFixture;
let broker: TestBroker;
let token: string;
let keeper: string;
let other: FreshDatabase;

const backend = (name: string, admin: string, extra: string) => `  ${name}:
    type: postgres
    url: ${databaseUrl(fx.db.name, admin)}
    role_prefix: ${fx.prefix}
    default_ttl: 10m
    allowed_scopes: [read, write]
    roles: {read: [${fx.readRole}], write: [${fx.readRole}, ${fx.writeRole}]}
    ${extra}`;

beforeAll(async () => {
  fx = await createPgFixture();
  other = await freshDatabase();
  keeper = `keep_${fx.suffix}`;
  await adminQuery(`CREATE ROLE ${keeper} NOLOGIN`);
  // The least-privilege admin reassigns to the keeper: it needs its privileges, and (as it is no
  // superuser) the keeper needs CREATE where users create functions.
  await adminQuery(`GRANT ${keeper} TO ${fx.leastAdmin}`);
  await adminQuery(`GRANT CREATE ON SCHEMA public TO ${fx.writeRole}, ${keeper}`, [], fx.db.name);
  await adminQuery(
    `GRANT CREATE ON SCHEMA public TO ${fx.writeRole}; GRANT CONNECT ON DATABASE ${other.name} TO ${fx.writeRole}`,
    [],
    other.name,
  );
  const extra = [
    backend('db-keep', 'postgres', `reassign_owned_to: ${keeper}`),
    backend('db-lp-keep', fx.leastAdmin, `reassign_owned_to: ${keeper}`),
    backend('db-bad-keep', 'postgres', `reassign_owned_to: ${fx.weakAdmin}`),
  ].join('\n');
  broker = await startBroker({ backends: fx.backendsYaml(extra), env: adminUrlEnv(fx), reaperIntervalMs: 25 });
  token = await broker.agent(
    'etl',
    ['db', 'db-lp', 'db-keep', 'db-lp-keep', 'db-bad-keep'].flatMap((b) => [`${b}:read`, `${b}:write`]).join(','),
  );
});
afterAll(async () => {
  await broker?.stop();
  const evil = await adminQuery<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [`evil_${fx?.suffix}`]);
  for (const r of evil) await adminQuery(`DROP ROLE "${r.rolname}"`);
  if (other) {
    await adminQuery(`DROP OWNED BY ${fx.writeRole}`, [], other.name).catch(() => {});
    await other.drop();
  }
  if (keeper) await adminQuery(`DROP OWNED BY ${keeper}`, [], fx.db.name).catch(() => {});
  await fx?.drop();
  if (keeper) await adminQuery(`DROP ROLE IF EXISTS ${keeper}`);
});

const revoke = async (id: string) =>
  (await fetch(`${broker.url}/v1/credentials/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).json();

/** As the issued user: what a writer with CREATE on public can leave behind, named after `tag`. */
async function leaveBehind(url: string, tag: string, id: number): Promise<void> {
  const s = await connectAs(url);
  try {
    await s.query(`CREATE FUNCTION public.pwn_${tag}() RETURNS text LANGUAGE sql SECURITY DEFINER
                     AS $$ CREATE ROLE evil_${fx.suffix}_${tag} LOGIN SUPERUSER; SELECT current_user::text $$`);
    await s.query(`CREATE VIEW public.leak_${tag} AS SELECT rolname, rolpassword FROM pg_authid`);
    await s.query(`GRANT SELECT ON public.leak_${tag} TO PUBLIC`);
    await s.query(`CREATE TABLE public.kept_${tag} (x int); INSERT INTO public.kept_${tag} VALUES (42)`);
    await s.query(`INSERT INTO orders VALUES (${id}, 'written by ${tag}')`);
  } finally {
    await s.end();
  }
}

/** Owner of each object `leaveBehind` made (absent: dropped). */
async function owners(tag: string): Promise<Record<string, string>> {
  const rows = await adminQuery<{ name: string; owner: string }>(
    `SELECT proname AS name, pg_get_userbyid(proowner) AS owner FROM pg_proc WHERE proname = $1
     UNION ALL SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname IN ($2, $3)`,
    [`pwn_${tag}`, `leak_${tag}`, `kept_${tag}`],
    fx.db.name,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.owner]));
}

/** A later read-only user of `backend` tries what was left; resolves with each SQLSTATE (or 'ok'). */
async function laterReader(backend: string, tag: string): Promise<{ call: string; view: string }> {
  const reader = await issue(broker.url, token, { backend, scopes: ['read'] });
  expect(reader.status, JSON.stringify(reader.body)).toBe(201);
  const s: pg.Client = await connectAs(reader.body.credential.url);
  const outcome = (q: Promise<unknown>) =>
    q.then(
      () => 'ok',
      (err: { code?: string }) => err.code ?? 'error',
    );
  try {
    return { call: await outcome(s.query(`SELECT public.pwn_${tag}()`)), view: await outcome(s.query(`SELECT * FROM public.leak_${tag}`)) };
  } finally {
    await s.end();
  }
}

const evilRoles = async (tag: string) => adminQuery('SELECT rolname FROM pg_roles WHERE rolname = $1', [`evil_${fx.suffix}_${tag}`]);

describe('type: postgres, what a dropped user owned', () => {
  it.each([
    ['db', 'a superuser admin', 201],
    ['db-lp', 'a CREATEROLE admin', 202],
  ])('%s (%s): revocation drops the user with everything it owned; no later user can run it', async (name, _, id) => {
    const tag = name.replaceAll('-', '_');
    const writer = await issue(broker.url, token, { backend: name, scopes: ['write'] });
    expect(writer.status, JSON.stringify(writer.body)).toBe(201);
    await leaveBehind(writer.body.credential.url, tag, id);

    expect(await revoke(writer.body.id)).toMatchObject({ downstream: 'revoked' });
    expect(await fx.leftoverRoles()).not.toContain(writer.body.credential.user);
    expect(await canLogin(writer.body.credential.url)).toBe(false);
    expect(await owners(tag)).toEqual({});
    // Rows it wrote into the operator's tables are not its objects: they stay.
    expect(await adminQuery('SELECT note FROM orders WHERE id = $1', [id], fx.db.name)).toEqual([{ note: `written by ${tag}` }]);

    expect(await laterReader(name, tag)).toEqual({ call: '42883', view: '42P01' }); // no such function, no such view
    expect(await evilRoles(tag)).toEqual([]);
  });

  it.each([
    ['db-keep', 'a superuser admin'],
    ['db-lp-keep', 'a CREATEROLE admin'],
  ])('%s (%s): with reassign_owned_to the objects are kept, owned by a role with no rights to lend', async (name) => {
    const tag = name.replaceAll('-', '_');
    const writer = await issue(broker.url, token, { backend: name, scopes: ['write'] });
    expect(writer.status, JSON.stringify(writer.body)).toBe(201);
    await leaveBehind(writer.body.credential.url, tag, name === 'db-keep' ? 203 : 204);

    expect(await revoke(writer.body.id)).toMatchObject({ downstream: 'revoked' });
    expect(await fx.leftoverRoles()).not.toContain(writer.body.credential.user);
    expect(await owners(tag)).toEqual({ [`pwn_${tag}`]: keeper, [`leak_${tag}`]: keeper, [`kept_${tag}`]: keeper });
    expect(await adminQuery(`SELECT x FROM public.kept_${tag}`, [], fx.db.name)).toEqual([{ x: 42 }]);

    // The function runs as the keeper, which may not create roles; the view reads as the keeper,
    // which may not read pg_authid.
    expect(await laterReader(name, tag)).toEqual({ call: '42501', view: '42501' });
    expect(await evilRoles(tag)).toEqual([]);
  });

  it('a keeper that gained a membership since is refused: the user stays (without login) until it is fixed, then the reaper drops it', async () => {
    const writer = await issue(broker.url, token, { backend: 'db-keep', scopes: ['write'] });
    const user = writer.body.credential.user as string;
    const s = await connectAs(writer.body.credential.url);
    await s.query('CREATE TABLE public.late_keeper (x int)');
    await s.end();
    await adminQuery(`GRANT ${fx.readRole} TO ${keeper}`);
    try {
      expect(await revoke(writer.body.id)).toMatchObject({ downstream: 'failed' });
      expect(broker.logLines.join('\n')).toContain(`reassign_owned_to role \\"${keeper}\\" is a member of ${fx.readRole}`);
      expect(await fx.leftoverRoles()).toContain(user);
      expect(await canLogin(writer.body.credential.url)).toBe(false);
      // Nothing was handed over: the failed step rolled back as a whole.
      expect(await adminQuery("SELECT tableowner FROM pg_tables WHERE tablename = 'late_keeper'", [], fx.db.name)).toEqual([
        { tableowner: user },
      ]);
      expect(await broker.services.backends.get('db-keep')!.check!()).toEqual([
        `reassign_owned_to role "${keeper}" is a member of ${fx.readRole}: it must belong to no role (REVOKE ${fx.readRole} FROM ${keeper})`,
      ]);
      // Issuance refuses too: no new user whose end cannot be handled as configured.
      const refused = await issue(broker.url, token, { backend: 'db-keep', scopes: ['read'] });
      expect(refused.status).toBe(502);
      expect(refused.body.error.code).toBe('ERR_BACKEND_MISCONFIGURED');
    } finally {
      await adminQuery(`REVOKE ${fx.readRole} FROM ${keeper}`);
    }
    broker.clock.advance(301); // the revoking request's lease runs out; the reaper retries
    await eventually(async () => !(await fx.leftoverRoles()).includes(user));
    expect(await adminQuery("SELECT tableowner FROM pg_tables WHERE tablename = 'late_keeper'", [], fx.db.name)).toEqual([
      { tableowner: keeper },
    ]);
  });

  it('a keeper that may log in and belongs to a role: refused at issuance and named by check()', async () => {
    const before = await fx.leftoverRoles();
    const res = await issue(broker.url, token, { backend: 'db-bad-keep', scopes: ['read'] });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_MISCONFIGURED');
    expect(res.body.error.message).toContain(`reassign_owned_to role "${fx.weakAdmin}" may log in`);
    expect(await fx.leftoverRoles()).toEqual(before);
    expect(await broker.services.backends.get('db-bad-keep')!.check!()).toEqual([
      `reassign_owned_to role "${fx.weakAdmin}" may log in (ALTER ROLE ${fx.weakAdmin} NOLOGIN)`,
    ]);
    expect(await broker.services.backends.get('db-lp-keep')!.check!()).toEqual([]);
    // A CREATEROLE admin hands a function over only to a role with CREATE on its schema.
    await adminQuery(`REVOKE CREATE ON SCHEMA public FROM ${keeper}`, [], fx.db.name);
    try {
      expect(await broker.services.backends.get('db-lp-keep')!.check!()).toEqual([
        expect.stringContaining(`reassign_owned_to role "${keeper}" lacks CREATE on schema public`),
      ]);
      expect(await broker.services.backends.get('db-keep')!.check!()).toEqual([]);
    } finally {
      await adminQuery(`GRANT CREATE ON SCHEMA public TO ${keeper}`, [], fx.db.name);
    }
  });

  it('objects in another database keep the user: the error and check() name that database; cleared there, the reaper drops it', async () => {
    const writer = await issue(broker.url, token, { backend: 'db-lp', scopes: ['write'] });
    const user = writer.body.credential.user as string;
    const s = await connectAs(databaseUrlAs(writer.body.credential.url, other.name));
    await s.query('CREATE TABLE elsewhere (x int)');
    await s.end();

    expect(await revoke(writer.body.id)).toMatchObject({ downstream: 'failed' });
    expect(broker.logLines.join('\n')).toContain(`user \\"${user}\\" owns objects or holds privileges in database \\"${other.name}\\"`);
    expect(await fx.leftoverRoles()).toContain(user);
    expect(await canLogin(writer.body.credential.url)).toBe(false);
    expect(await broker.services.backends.get('db-lp')!.check!()).toEqual([
      `user "${user}" owns objects or holds privileges in database "${other.name}": creddy clears only ${fx.db.name}, so it cannot drop the user (DROP OWNED BY "${user}" there)`,
    ]);

    await adminQuery(`DROP OWNED BY "${user}"`, [], other.name);
    broker.clock.advance(301);
    await eventually(async () => !(await fx.leftoverRoles()).includes(user));
    expect(await broker.services.backends.get('db-lp')!.check!()).toEqual([]);
  });
});

/** The issued URL pointed at another database of the same server. */
function databaseUrlAs(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
