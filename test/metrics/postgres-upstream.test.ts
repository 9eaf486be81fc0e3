/**
 * `creddy_upstream_calls_total` of `type: postgres` backends on the machine's PostgreSQL: a unit
 * of work that commits is `ok`, one PostgreSQL refuses (an admin without CREATEROLE) is `error`,
 * and a server that cannot be reached is `unreachable`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminUrlEnv, createPgFixture, type PgFixture } from '../backends/postgres/fixture.js';
import { eventually, issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { sampleValue, scrape } from '../helpers/metrics.js';

let fx: PgFixture;
let broker: TestBroker;

beforeAll(async () => {
  fx = await createPgFixture();
  const down = [
    '  db-down:',
    '    type: postgres',
    '    url: postgresql://postgres@127.0.0.1:1/nowhere',
    `    role_prefix: ${fx.prefix}`,
    '    allowed_scopes: [read]',
    `    roles: {read: [${fx.readRole}]}`,
  ].join('\n');
  broker = await startBroker({ metrics: true, backends: fx.backendsYaml(down), env: adminUrlEnv(fx) });
});
afterAll(async () => {
  await broker?.stop();
  await fx?.drop();
});

it('counts each unit of work: ok, error, unreachable', async () => {
  const calls = async (): Promise<(backend: string, status: string) => number> => {
    const { text } = await scrape(broker.url);
    return (backend, status) => sampleValue(text, 'creddy_upstream_calls_total', { backend, status }) ?? 0;
  };
  // The reaper's first sweep (at start, then every minute) is a unit of work per backend too.
  await eventually(async () => {
    const at = await calls();
    return at('db', 'ok') > 0 && at('db-weak', 'ok') > 0 && at('db-down', 'unreachable') > 0;
  });
  const before = await calls();

  const token = await broker.agent('etl', 'db:read,db-weak:read,db-down:read');
  expect((await issue(broker.url, token, { backend: 'db', scopes: ['read'] })).status).toBe(201);
  expect((await issue(broker.url, token, { backend: 'db-weak', scopes: ['read'] })).status).toBeGreaterThanOrEqual(500);
  expect((await issue(broker.url, token, { backend: 'db-down', scopes: ['read'] })).status).toBe(502);

  const after = await calls();
  const delta = (backend: string, status: string): number => after(backend, status) - before(backend, status);
  expect(delta('db', 'ok')).toBe(1);
  expect(delta('db-weak', 'error')).toBe(1);
  expect(delta('db-down', 'unreachable')).toBe(1);

  const { text } = await scrape(broker.url);
  expect(sampleValue(text, 'creddy_issuances_total', { backend: 'db', outcome: 'issued' })).toBe(1);
  expect(sampleValue(text, 'creddy_issuances_total', { backend: 'db-down', outcome: 'error', code: 'ERR_BACKEND_UPSTREAM' })).toBe(1);
  // No role name, password or admin URL in the text.
  expect(text).not.toContain(fx.prefix);
  expect(text).not.toContain('postgresql://');
});
