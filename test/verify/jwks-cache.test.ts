import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJwksCache } from '../../src/verify/jwks.js';

/**
 * The verifier's JWKS cache against a loopback JWKS server whose answers the test sets
 * (keys, Cache-Control, Age, ETag, status) and whose requests it counts, on a test clock.
 */
interface Served {
  keys: Array<Record<string, unknown>>;
  cacheControl: string | null;
  age: string | null;
  status: number;
}

const x = () => (generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as { x: string }).x;
const okp = (kid: string, extra: Record<string, unknown> = {}) => ({
  kty: 'OKP',
  crv: 'Ed25519',
  kid,
  x: x(),
  alg: 'EdDSA',
  use: 'sig',
  ...extra,
});

describe('JWKS cache', () => {
  let url = '';
  let close: () => Promise<void>;
  let served: Served;
  let requests: IncomingHttpHeaders[];
  let clock: number;
  const now = () => clock;
  const cache = (options: { cooldown?: number; maxCacheAge?: number; staleIfError?: number } = {}) =>
    createJwksCache({ url, now, ...options });
  const key = (getKey: ReturnType<typeof cache>, kid: string) => getKey({ alg: 'EdDSA', kid }, { payload: '', signature: '' });
  const statuses = () => requests.map((r) => (r['if-none-match'] ? 'revalidate' : 'fetch'));

  beforeAll(async () => {
    const server = createServer((req, res) => {
      requests.push(req.headers);
      const body = JSON.stringify({ keys: served.keys });
      const etag = `"${Buffer.from(body).length}-${served.keys.map((k) => k['kid']).join(',')}"`;
      const headers: Record<string, string> = { etag, 'content-type': 'application/jwk-set+json' };
      if (served.cacheControl !== null) headers['cache-control'] = served.cacheControl;
      if (served.age !== null) headers['age'] = served.age;
      if (served.status !== 200) return res.writeHead(served.status).end('{}');
      if (req.headers['if-none-match'] === etag) return res.writeHead(304, headers).end();
      res.writeHead(200, headers).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(() => close());
  beforeEach(() => {
    served = { keys: [okp('k1'), okp('k2')], cacheControl: 'public, max-age=10', age: null, status: 200 };
    requests = [];
    clock = 1_700_000_000_000;
  });

  it('keeps the set for max-age, then revalidates with If-None-Match; a 304 renews it', async () => {
    const getKey = cache();
    await key(getKey, 'k1');
    clock += 9_999;
    await key(getKey, 'k2');
    expect(statuses()).toEqual(['fetch']);
    clock += 1;
    await key(getKey, 'k1');
    expect(statuses()).toEqual(['fetch', 'revalidate']);
    clock += 9_999;
    await key(getKey, 'k1');
    expect(requests).toHaveLength(2);
  });

  it('subtracts Age, treats no-cache/no-store as stale at once, and caps max-age', async () => {
    served.age = '8';
    const aged = cache();
    await key(aged, 'k1');
    clock += 2_000;
    await key(aged, 'k1');
    expect(requests).toHaveLength(2);

    requests = [];
    served = { ...served, age: null, cacheControl: 'no-cache' };
    const uncached = cache();
    await key(uncached, 'k1');
    await key(uncached, 'k1');
    expect(statuses()).toEqual(['fetch', 'revalidate']);

    requests = [];
    served.cacheControl = 'max-age=86400';
    const capped = cache({ maxCacheAge: 60_000 });
    await key(capped, 'k1');
    clock += 60_000;
    await key(capped, 'k1');
    expect(requests).toHaveLength(2);
  });

  it('without Cache-Control, keeps the set for 5 minutes', async () => {
    served.cacheControl = null;
    const getKey = cache();
    await key(getKey, 'k1');
    clock += 299_999;
    await key(getKey, 'k1');
    clock += 1;
    await key(getKey, 'k1');
    expect(requests).toHaveLength(2);
  });

  it('shares one request among concurrent lookups', async () => {
    const getKey = cache();
    await Promise.all(Array.from({ length: 25 }, (_, i) => key(getKey, i % 2 ? 'k1' : 'k2')));
    expect(requests).toHaveLength(1);
  });

  it('refetches on an unknown kid at most once per cooldown, and finds a key published since', async () => {
    const getKey = cache({ cooldown: 30_000 });
    await key(getKey, 'k1');
    served.keys = [...served.keys, okp('k3')];
    await expect(key(getKey, 'k3')).resolves.toBeTruthy(); // one refetch finds it
    expect(requests).toHaveLength(2);
    await expect(key(getKey, 'forged-1')).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    await expect(key(getKey, 'forged-2')).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    expect(requests).toHaveLength(2); // cooling down: forged kids cost no fetch
    clock += 30_000;
    await expect(key(getKey, 'forged-3')).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    expect(requests).toHaveLength(3);
  });

  it('drops a key the server stopped publishing once max-age has passed', async () => {
    const getKey = cache();
    await key(getKey, 'k2');
    served.keys = [served.keys[0]!];
    clock += 10_000;
    await expect(key(getKey, 'k2')).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });

  it('uses a set past max-age only within staleIfError while the broker is down or failing, then ERR_ISSUER_UNAVAILABLE', async () => {
    const getKey = cache({ staleIfError: 60_000 });
    await key(getKey, 'k1');
    clock += 10_000;
    served.status = 500;
    await expect(key(getKey, 'k1')).resolves.toBeTruthy(); // stale-if-error
    clock += 60_000;
    await expect(key(getKey, 'k1')).rejects.toMatchObject({ code: 'ERR_ISSUER_UNAVAILABLE' });
    const down = createJwksCache({ url: 'http://127.0.0.1:1/.well-known/jwks.json', now });
    await expect(key(down, 'k1')).rejects.toMatchObject({ code: 'ERR_ISSUER_UNAVAILABLE' });
    served.status = 200;
    clock += 5_000; // the retry delay after a failure
    await expect(key(getKey, 'k1')).resolves.toBeTruthy(); // and recovers
  });

  it('uses only public Ed25519 signing keys, and no kid that names two keys', async () => {
    served.keys = [
      okp('ok'),
      okp('private', { d: x() }),
      okp('x25519', { crv: 'X25519' }),
      okp('enc', { use: 'enc' }),
      okp('es', { alg: 'ES256' }),
      okp('twice'),
      okp('twice'),
      { kty: 'EC', crv: 'P-256', kid: 'ec', x: x(), y: x() },
    ];
    const getKey = cache({ cooldown: 60_000 });
    await expect(key(getKey, 'ok')).resolves.toBeTruthy();
    for (const kid of ['private', 'x25519', 'enc', 'es', 'twice', 'ec']) {
      await expect(key(getKey, kid), kid).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    }
  });
});
