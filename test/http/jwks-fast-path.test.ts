/**
 * `GET /.well-known/jwks.json` is answered by the server's listener before the app
 * (http/jwks-response.ts); everything else about it goes through the app's route. The two must be
 * indistinguishable to a verifier: same status, body, ETag, Content-Type, Cache-Control bounds and
 * the headers every response carries — and a rotation must reach both at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

const KEYS = 'keys: {rotation_period: 1h, publish_ahead: 10m, jwks_max_age: 300s, clock_skew: 5s}';

/** The headers a verifier or a cache acts on, with the per-request id checked and dropped. */
function comparable(res: Response): Record<string, string | null> {
  expect(res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9_-]{12}$/);
  const maxAge = Number(/^public, max-age=(\d+)$/.exec(res.headers.get('cache-control') ?? '')?.[1]);
  // Jitter: up to 10% below jwks_max_age, never above.
  expect(maxAge).toBeGreaterThanOrEqual(270);
  expect(maxAge).toBeLessThanOrEqual(300);
  return {
    etag: res.headers.get('etag'),
    'content-type': res.headers.get('content-type'),
    'x-content-type-options': res.headers.get('x-content-type-options'),
  };
}

describe('JWKS fast path', () => {
  let broker: TestBroker;
  const viaApp = (init?: RequestInit) => createApp(broker.services).request('/.well-known/jwks.json', init);
  const viaServer = (path = '/.well-known/jwks.json', init?: RequestInit) => fetch(`${broker.url}${path}`, init);

  beforeAll(async () => {
    broker = await startBroker({ extra: KEYS });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('answers 200 exactly as the app route does', async () => {
    const [served, routed] = await Promise.all([viaServer(), viaApp()]);
    expect(served.status).toBe(200);
    expect(routed.status).toBe(200);
    const body = await served.text();
    expect(body).toBe(await routed.text());
    expect(served.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(comparable(served)).toEqual(comparable(routed));
    expect(comparable(served)['content-type']).toBe('application/jwk-set+json');
    expect(JSON.parse(body).keys.length).toBeGreaterThan(0);
  });

  it('answers a matching If-None-Match with an empty 304, and a stale one with 200', async () => {
    const etag = (await viaServer()).headers.get('etag')!;
    const [served, routed] = await Promise.all([
      viaServer(undefined, { headers: { 'if-none-match': etag } }),
      viaApp({ headers: { 'if-none-match': etag } }),
    ]);
    expect(served.status).toBe(304);
    expect(routed.status).toBe(304);
    expect(await served.text()).toBe('');
    // A cache takes a 304's headers over what it stored: the type must stay the JWKS's.
    const viaRoute = await viaServer('/.well-known/jwks.json?x=1', { headers: { 'if-none-match': etag } });
    expect(viaRoute.status).toBe(304);
    for (const r of [served, routed, viaRoute]) expect(r.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(served.headers.get('etag')).toBe(etag);
    expect(comparable(served).etag).toBe(comparable(routed).etag);
    // As caches send it: a weak tag, a list, or `*` (RFC 9110 §13.1.2).
    for (const header of [`W/${etag}`, `"other", ${etag}`, '*']) {
      const [byServer, byApp] = await Promise.all([
        viaServer(undefined, { headers: { 'if-none-match': header } }),
        viaApp({ headers: { 'if-none-match': header } }),
      ]);
      expect([byServer.status, byApp.status], header).toEqual([304, 304]);
    }
    const stale = await viaServer(undefined, { headers: { 'if-none-match': '"not-it"' } });
    expect(stale.status).toBe(200);
    expect(JSON.parse(await stale.text()).keys.length).toBeGreaterThan(0);
  });

  it('leaves HEAD, query strings and other methods to the app', async () => {
    const head = await viaServer(undefined, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toMatch(/^".+"$/);
    const query = await viaServer('/.well-known/jwks.json?x=1');
    expect(query.status).toBe(200);
    expect(query.headers.get('etag')).toBe(head.headers.get('etag'));
    // The app's route answers with the same headers as the fast path, over a real socket too.
    const fast = await viaServer();
    expect(comparable(query)).toEqual(comparable(fast));
    expect(comparable(head)).toEqual(comparable(fast));
    const post = await viaServer(undefined, { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND');
  });

  it('serves a rotation on both paths with a new ETag', async () => {
    const before = (await viaServer()).headers.get('etag');
    // --force: a new signing key now (this is about serving the change, not about publish_ahead).
    const rotated = await runCli(['keys', 'rotate', '--force', '--config', broker.configPath], broker.env);
    expect(rotated.code, rotated.stderr).toBe(0);
    await broker.services.keyring.refresh();
    const [served, routed] = await Promise.all([viaServer(), viaApp()]);
    expect(served.headers.get('etag')).not.toBe(before);
    expect(served.headers.get('etag')).toBe(routed.headers.get('etag'));
    expect(await served.text()).toBe(await routed.text());
  });
});
