/**
 * A configured role hands out everything it reaches by membership: a member may SET ROLE to any
 * role it belongs to, directly or through others, and grant any role one of them holds with
 * ADMIN OPTION. So a group that is itself a member of a SUPERUSER (or CREATEROLE…) role, or of
 * pg_signal_backend, or that holds ADMIN OPTION, is refused at issuance and named by check().
 * pg_read_all_data too (it reads pg_authid); the monitoring roles stay allowed (docs/backends.md). Through the HTTP API
 * on the machine's PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../../helpers/harness.js';
import { adminQuery, databaseUrl } from '../../helpers/pg.js';
import { connectAs, createPgFixture, type PgFixture } from './fixture.js';

let fx: PgFixture;
let broker: TestBroker;
let token: string;
/** Extra roles of this file, dropped at the end (groups before what they are members of). */
const made: string[] = [];

/** The groups under test: backend name → the group its read scope maps to. */
const groups: Record<string, string> = {};

async function role(name: string, sql: string): Promise<string> {
  const full = `${name}_${fx.suffix}`;
  await adminQuery(`CREATE ROLE ${full} NOLOGIN ${sql}`);
  made.unshift(full);
  return full;
}

beforeAll(async () => {
  fx = await createPgFixture();
  const boss = await role('pv_boss', 'SUPERUSER');
  const maker = await role('pv_maker', 'CREATEROLE');
  const viaBoss = await role('pv_via_boss', '');
  await adminQuery(`GRANT ${boss} TO ${viaBoss}`);
  // Two levels down: grp2 → viaBoss → boss.
  const twoDown = await role('pv_two_down', '');
  await adminQuery(`GRANT ${viaBoss} TO ${twoDown}`);
  const viaMaker = await role('pv_via_maker', '');
  await adminQuery(`GRANT ${maker} TO ${viaMaker}`);
  const signals = await role('pv_signals', '');
  await adminQuery(`GRANT pg_signal_backend TO ${signals}`);
  const admins = await role('pv_admins', '');
  await adminQuery(`GRANT ${fx.writeRole} TO ${admins} WITH ADMIN OPTION`);
  const readsAll = await role('pv_reads_all', '');
  await adminQuery(`GRANT pg_read_all_data TO ${readsAll}`);
  const monitor = await role('pv_monitor', '');
  await adminQuery(`GRANT pg_monitor TO ${monitor}`);
  Object.assign(groups, {
    'via-boss': viaBoss,
    'two-down': twoDown,
    'via-maker': viaMaker,
    signals,
    admins,
    'reads-all': readsAll,
    monitor,
  });
  for (const group of Object.values(groups)) await adminQuery(`GRANT CONNECT ON DATABASE ${fx.db.name} TO ${group}`);
  const yaml = Object.entries(groups)
    .map(
      ([name, group]) => `  ${name}:
    type: postgres
    url: ${databaseUrl(fx.db.name, 'postgres')}
    role_prefix: ${fx.prefix}
    allowed_scopes: [read]
    roles: {read: [${group}]}`,
    )
    .join('\n');
  broker = await startBroker({ backends: yaml });
  token = await broker.agent(
    'etl',
    Object.keys(groups)
      .map((b) => `${b}:read`)
      .join(','),
  );
});
afterAll(async () => {
  await broker?.stop();
  if (made.length > 0) await adminQuery(`DROP OWNED BY ${made.join(', ')}`, [], fx.db.name);
  await fx?.drop();
  for (const name of made) await adminQuery(`DROP ROLE IF EXISTS ${name}`);
});

describe('type: postgres, roles that reach privileges by membership', () => {
  it.each([
    ['via-boss', () => `is a member of "pv_boss_${fx.suffix}", which has SUPERUSER`],
    ['two-down', () => `is a member of "pv_boss_${fx.suffix}", which has SUPERUSER`],
    ['via-maker', () => `is a member of "pv_maker_${fx.suffix}", which has CREATEROLE`],
    ['signals', () => 'is a member of pg_signal_backend'],
    ['admins', () => `has ADMIN OPTION on "${fx.writeRole}"`],
    ['reads-all', () => 'is a member of pg_read_all_data'],
  ])('%s: refused at issuance (no user is made) and by check()', async (backend, reason) => {
    const before = await fx.leftoverRoles();
    const res = await issue(broker.url, token, { backend, scopes: ['read'] });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_MISCONFIGURED');
    expect(res.body.error.message).toContain(`role "${groups[backend]}" ${reason()}`);
    expect(await fx.leftoverRoles()).toEqual(before);
    expect(await broker.services.backends.get(backend)!.check!()).toEqual([
      `role "${groups[backend]}" ${reason()}: more than data access, creddy will not grant it`,
    ]);
  });

  it('a monitoring group is granted: its user sees statistics, not pg_authid', async () => {
    const res = await issue(broker.url, token, { backend: 'monitor', scopes: ['read'] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const s = await connectAs(res.body.credential.url);
    try {
      expect((await s.query('SELECT count(*)::int AS n FROM pg_stat_activity')).rows[0].n).toBeGreaterThan(0);
      await expect(s.query('SELECT rolpassword FROM pg_authid')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await s.end();
    }
    expect(await broker.services.backends.get('monitor')!.check!()).toEqual([]);
  });

  it('creddy doctor fails the backend and names the role and what it reaches', async () => {
    const r = await runCli(['doctor', '--json', '--config', broker.configPath], broker.env);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ check: string; status: string; message: string }> }).checks;
    expect(checks.find((c) => c.check === 'backend via-boss')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining(`role "${groups['via-boss']}" is a member of "pv_boss_${fx.suffix}", which has SUPERUSER`),
    });
    expect(checks.find((c) => c.check === 'backend monitor')).toMatchObject({ status: 'ok' });
  });
});
