/**
 * A `type: postgres` backend whose server goes silent without closing (its host gone behind the
 * address, a partition): the freezing proxy (../../helpers/freezing-proxy.ts) stands in front of
 * the backend's admin URL. With `statement_timeout: 1s`, a statement on a silent pooled connection
 * is given up 1 s + SILENT_MARGIN_MS later and a connection that cannot be made within the same
 * bound fails too: issuance answers 502 ERR_BACKEND_UPSTREAM (`details.reason: timeout`) instead
 * of hanging, and comes back by itself once the address answers again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SILENT_MARGIN_MS } from '../../../src/backends/postgres/admin.js';
import { type FreezingProxy, startFreezingProxy } from '../../helpers/freezing-proxy.js';
import { startBroker, type TestBroker } from '../../helpers/harness.js';
import { adminUrlEnv, createPgFixture, type PgFixture } from './fixture.js';

/** Far past every bound under test: a request still unanswered by then hangs. */
const HANGS_MS = 15_000;
/** The backend's statement_timeout, and so the client's deadlines: 1 s + the margin. */
const DEADLINE_MS = 1_000 + SILENT_MARGIN_MS;

describe('a postgres backend whose server goes silent', () => {
  let fx: PgFixture;
  let proxy: FreezingProxy;
  /**
   * db-slow's own proxy: the first test freezes every connection of `proxy`, and a connection
   * db-slow's pool holds then (the backends' sweep runs at start) would hang the second test's
   * first issuance instead of the mint it is about.
   */
  let slowProxy: FreezingProxy;
  let broker: TestBroker;
  beforeAll(async () => {
    fx = await createPgFixture();
    const admin = adminUrlEnv(fx)['CREDDY_PG_ADMIN_URL']!;
    [proxy, slowProxy] = await Promise.all([startFreezingProxy(admin), startFreezingProxy(admin)]);
    const url = 'url: ${env:CREDDY_PG_ADMIN_URL}';
    // db-slow: the same silent server behind a statement_timeout above what issuance waits for.
    const slow = `  db-slow:\n    type: postgres\n    url: \${env:CREDDY_PG_SLOW_URL}\n    role_prefix: ${fx.prefix}\n    statement_timeout: 30s\n    allowed_scopes: [read]\n    roles: {read: [${fx.readRole}]}`;
    broker = await startBroker({
      backends: fx.backendsYaml(slow).replace(url, `${url}\n    statement_timeout: 1s`),
      env: { CREDDY_PG_ADMIN_URL: proxy.url, CREDDY_PG_SLOW_URL: slowProxy.url },
    });
  });
  afterAll(async () => {
    // The proxies first: their sockets' ends let the backend pools' silent connections close.
    await Promise.all([proxy?.close(), slowProxy?.close()]);
    await broker?.stop();
    await fx?.drop();
  });

  const issue = async (token: string) => {
    const started = performance.now();
    const res = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'db', scopes: ['read'] }),
      signal: AbortSignal.timeout(HANGS_MS),
    });
    const body = (await res.json()) as { id?: string; error?: { code: string; details?: Record<string, unknown> } };
    return { status: res.status, body, ms: performance.now() - started };
  };

  it('a silent connection, then an address that leads nowhere: 502 within the deadline each time, then recovery', async () => {
    const token = await broker.agent('etl', 'db:read');
    expect((await issue(token)).status).toBe(201); // the pool holds a connection now

    proxy.freezeAll();
    const silent = await issue(token);
    expect(silent.status, JSON.stringify(silent.body)).toBe(502);
    expect(silent.body.error).toMatchObject({ code: 'ERR_BACKEND_UPSTREAM', details: { reason: 'timeout', timeout_ms: DEADLINE_MS } });
    expect(silent.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
    expect(silent.ms).toBeLessThan(DEADLINE_MS + 2_500);

    // New connections are accepted and never answered: the connection deadline.
    proxy.blackholeNew(true);
    const nowhere = await issue(token);
    expect(nowhere.status, JSON.stringify(nowhere.body)).toBe(502);
    expect(nowhere.body.error).toMatchObject({ code: 'ERR_BACKEND_UPSTREAM', details: { reason: 'timeout' } });
    expect(nowhere.ms).toBeLessThan(DEADLINE_MS + 2_500);

    // The silent connections were closed, not pooled: once the address answers, issuance works.
    proxy.blackholeNew(false);
    const back = await issue(token);
    expect(back.status, JSON.stringify(back.body)).toBe(201);
    // Each failure is on the record with its code.
    const denied = await broker.services.store.audit.query({ agent: 'etl', type: 'credential.denied', limit: 10 });
    expect(denied.map((r) => r.reason)).toEqual(['ERR_BACKEND_UPSTREAM', 'ERR_BACKEND_UPSTREAM']);
  });

  it('a statement_timeout above the mint deadline: the mint still ends when issuance stops waiting, and its connection is not reused', async () => {
    const token = await broker.agent('slow-etl', 'db-slow:read');
    const first = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'db-slow', scopes: ['read'] }),
    });
    expect(first.status).toBe(201); // the pool holds a connection now
    const backend = broker.services.backends.get('db-slow')!;
    // What issuance hands every backend: its signal aborts when the broker stops waiting (20 s
    // there; 300 ms here). The silent server's own bound would be 30 s + the margin.
    const mint = (signal: AbortSignal) => {
      const now = Math.floor(Date.now() / 1000);
      const jti = `deadline-${Math.random().toString(36).slice(2)}`;
      const started = performance.now();
      const settled = backend
        .mint({ jti, agent: 'slow-etl', scopes: ['read'], ttlSeconds: 600, issuedAt: now, expiresAt: now + 600, params: {}, signal })
        .then(
          () => ({ ok: true as const, ms: performance.now() - started }),
          (err: unknown) => ({ ok: false as const, err, ms: performance.now() - started }),
        );
      return Promise.race([settled, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref())]);
    };

    slowProxy.freezeAll();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const frozen = await mint(controller.signal);
    expect(frozen).not.toBe('hung');
    if (frozen === 'hung') return;
    expect(frozen.ok).toBe(false);
    expect(frozen).toMatchObject({
      err: {
        code: 'ERR_BACKEND_UPSTREAM',
        message: expect.stringContaining("did not finish within the broker's mint deadline"),
        details: { upstream: 'postgres', reason: 'timeout' },
      },
    });
    expect(frozen.ms).toBeGreaterThanOrEqual(250);
    expect(frozen.ms).toBeLessThan(2_500);

    // Already past the deadline (a mint that starts late): refused before a connection is asked for.
    slowProxy.blackholeNew(true);
    const late = await mint(AbortSignal.abort());
    expect(late).toMatchObject({ ok: false, err: { code: 'ERR_BACKEND_UPSTREAM', details: { reason: 'timeout' } } });
    if (late !== 'hung') expect(late.ms).toBeLessThan(200);

    // The abandoned connection was closed, not pooled: once the address answers, issuance works.
    slowProxy.blackholeNew(false);
    const back = await mint(AbortSignal.timeout(10_000));
    expect(back).toMatchObject({ ok: true });
  });
});
