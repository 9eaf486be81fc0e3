import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createVerifier, creddyJwks, isCreddyError, type VerifierOptions, verifyCreddyToken } from '../../src/verify/index.js';
import { attackerEd25519, compact, ed25519Signer } from './forge.js';

/**
 * `createVerifier` while its broker is failing: a loopback JWKS server the test switches between
 * answering, 502, accepting and never answering, and streaming a huge body; it counts requests
 * and bytes. The verifier runs on a test clock, so "after max-age" and "5 s later" are exact.
 */
type Mode = 'ok' | 'bad-gateway' | 'silent' | 'huge-stream' | 'huge-declared';

const ISSUER = 'https://creddy.test';
const signer = attackerEd25519();
const other = attackerEd25519();

describe('the verifier when the broker fails', () => {
  let url = '';
  let close: () => Promise<void>;
  let mode: Mode;
  let cacheControl: string;
  let keys: Array<{ kid: string; x: string }>;
  let requests: number;
  let bytesSent: number;
  let hanging: ServerResponse[];
  let clock: number;

  const token = (kid = 'k1') => {
    const t = Math.floor(clock / 1000);
    const claims = {
      iss: ISSUER,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t,
      exp: t + 3600,
      jti: `j${t}`,
      scope: 'read',
      backend: 'demo',
    };
    return compact({ alg: 'EdDSA', typ: 'at+jwt', kid }, claims, ed25519Signer(signer.privateKey));
  };
  const verifier = (options: Partial<VerifierOptions> = {}) =>
    createVerifier({ issuer: ISSUER, url, audience: 'demo', now: () => clock, ...options });
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (err: unknown) => (isCreddyError(err) ? err.code : `not a CreddyError: ${String(err)}`),
    );

  beforeAll(async () => {
    const server = createServer((_req, res) => {
      requests++;
      if (mode === 'silent') return void hanging.push(res);
      if (mode === 'bad-gateway') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      if (mode === 'huge-stream' || mode === 'huge-declared') {
        const total = 64 * 1024 * 1024;
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(mode === 'huge-declared' ? { 'content-length': String(total) } : {}),
        });
        const pump = () => {
          while (bytesSent < total && !res.destroyed) {
            bytesSent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => res.destroy());
        return pump();
      }
      const body = JSON.stringify({ keys: keys.map(({ kid, x }) => ({ kty: 'OKP', crv: 'Ed25519', kid, x, alg: 'EdDSA', use: 'sig' })) });
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': cacheControl }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  });
  afterAll(() => close());
  beforeEach(() => {
    for (const res of hanging ?? []) res.destroy();
    mode = 'ok';
    cacheControl = 'public, max-age=60';
    keys = [{ kid: 'k1', x: signer.x }];
    requests = 0;
    bytesSent = 0;
    hanging = [];
    clock = 1_700_000_000_000;
  });

  it('after a failed fetch asks again only after 5 s, failing fast meanwhile (200 verifications: 1 request, not 200)', async () => {
    const v = verifier({ jwks: { staleIfErrorMs: 0 } });
    expect(await outcome(v.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    clock += 60_000; // max-age has passed
    const codes = new Set<string>();
    for (let i = 0; i < 200; i++) codes.add(await outcome(v.verify(token())));
    expect([...codes]).toEqual(['ERR_ISSUER_UNAVAILABLE']);
    expect(requests).toBe(2); // the first load, then one failed refetch
    clock += 4_999;
    expect(await outcome(v.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
    expect(requests).toBe(2);
    clock += 1;
    mode = 'ok';
    expect(await outcome(v.verify(token()))).toBe('ok'); // the next attempt, and it recovers
    expect(requests).toBe(3);
  });

  it('the deprecated creddyJwks keeps its bound: a set past max-age is never used, outage or not', async () => {
    // Real time: creddyJwks takes no clock. max-age 1 s, then the broker fails.
    clock = Date.now();
    cacheControl = 'public, max-age=1';
    const keysOf = creddyJwks(url);
    const check = () => outcome(verifyCreddyToken(token(), { issuer: ISSUER, audience: 'demo', keys: keysOf }));
    expect(await check()).toBe('ok');
    mode = 'bad-gateway';
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await check()).toBe('ERR_ISSUER_UNAVAILABLE');
  });

  it('a broker that never answers costs one timeout, not one per verification; timeoutMs bounds it', async () => {
    const v = verifier({ timeoutMs: 300, jwks: { staleIfErrorMs: 0 } });
    mode = 'silent';
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await outcome(v.verify(token())));
    expect(new Set(results)).toEqual(new Set(['ERR_ISSUER_UNAVAILABLE']));
    expect(requests).toBe(1);
  });

  it('keeps verifying with a set past max-age during an outage, for staleIfErrorMs (5 min) at most', async () => {
    const v = verifier();
    expect(await outcome(v.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    clock += 60_000;
    expect(await outcome(v.verify(token()))).toBe('ok'); // the refetch fails: stale-if-error
    for (let i = 0; i < 50; i++) expect(await outcome(v.verify(token()))).toBe('ok');
    expect(requests).toBe(2); // failing fast behind the stale set, no request per verification
    clock += 5_000;
    expect(await outcome(v.verify(token()))).toBe('ok'); // answered from the stale set; the retry runs behind it
    await waitFor(() => requests === 3);
    clock += 300_000 - 5_000 - 1;
    expect(await outcome(v.verify(token()))).toBe('ok'); // 1 ms before max-age + 5 min
    clock += 1;
    expect(await outcome(v.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
  });

  it('a stale set never outlives an answer: a key the broker dropped is refused as soon as it is heard', async () => {
    const v = verifier();
    expect(await outcome(v.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    clock += 60_000;
    expect(await outcome(v.verify(token()))).toBe('ok');
    mode = 'ok';
    keys = [{ kid: 'k2', x: other.x }]; // k1 revoked meanwhile
    clock += 5_000;
    // The stale set answers while the retry that hears the broker is in flight, and not after it.
    let result = 'ok';
    for (let i = 0; i < 300 && result === 'ok'; i++) {
      result = await outcome(v.verify(token()));
      if (result === 'ok') await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(result).toBe('ERR_TOKEN_INVALID');
    expect(requests).toBeLessThanOrEqual(4); // the retry, and the unknown kid's one refetch
  });

  it('never serves stale a set the broker sent no-store/no-cache, nor with staleIfErrorMs: 0', async () => {
    cacheControl = 'no-store';
    const uncached = verifier();
    expect(await outcome(uncached.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    expect(await outcome(uncached.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');

    mode = 'ok';
    cacheControl = 'max-age=60';
    const strict = verifier({ jwks: { staleIfErrorMs: 0 } });
    expect(await outcome(strict.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    clock += 60_000;
    expect(await outcome(strict.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
  });

  it('an unknown kid during an outage is ERR_ISSUER_UNAVAILABLE (it may be new), and never passes', async () => {
    const v = verifier();
    expect(await outcome(v.verify(token()))).toBe('ok');
    mode = 'bad-gateway';
    const forged = compact(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k9' },
      {
        iss: ISSUER,
        sub: 'bot',
        aud: 'demo',
        client_id: 'bot',
        iat: clock / 1000,
        exp: clock / 1000 + 60,
        jti: 'f',
        scope: 'read',
        backend: 'demo',
      },
      ed25519Signer(other.privateKey),
    );
    expect(await outcome(v.verify(forged))).toBe('ERR_ISSUER_UNAVAILABLE');
    clock += 60_000;
    expect(await outcome(v.verify(forged))).toBe('ERR_ISSUER_UNAVAILABLE');
    expect(await outcome(v.verify(token()))).toBe('ok');
  });

  it.each([
    ['streamed without a length', 'huge-stream'],
    ['with a Content-Length above the cap', 'huge-declared'],
  ] as const)('refuses a JWKS body over 512 KiB without reading it all (%s)', async (_, huge) => {
    mode = huge;
    const v = verifier();
    const err = await v.verify(token()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ISSUER_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/larger than 524288 bytes/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // 64 MiB on offer; socket buffers hold a few MiB at most, the verifier reads 512 KiB.
    expect(bytesSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('checks its timeout and JWKS options', () => {
    for (const bad of [
      { timeoutMs: 0 },
      { timeoutMs: Number.NaN },
      { timeoutMs: 120_000 },
      { jwks: { staleIfErrorMs: -1 } },
      { jwks: { staleIfErrorMs: 7_200_000 } },
      { jwks: { cooldownMs: Number.POSITIVE_INFINITY } },
      { jwks: { maxCacheAgeMs: -5 } },
    ] as Array<Partial<VerifierOptions>>) {
      expect(() => verifier(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
    expect(() => verifier({ timeoutMs: 2_000, jwks: { staleIfErrorMs: 0, cooldownMs: 0 } })).not.toThrow();
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
