import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createVerifier, isCreddyError, type VerifierOptions } from '../../src/verify/index.js';
import { attackerEd25519, compact, ed25519Signer } from './forge.js';

/**
 * `createVerifier({ introspect: true })` while the broker's deny-list misbehaves: a loopback
 * broker whose JWKS always answers and whose `GET /v1/revocations/{jti}` the test switches between
 * answering, answering slowly, never answering, and sending far more than a verdict. It counts
 * deny-list requests and bytes. The verifier runs on a test clock, so "5 s later" is exact; the
 * request timeout (`timeoutMs`) is real.
 */
type Mode = 'ok' | 'slow' | 'silent' | 'bad-gateway' | 'padded' | 'huge-stream' | 'huge-declared';

const ISSUER = 'https://creddy.test';
const signer = attackerEd25519();

describe('the deny-list check (introspect: true)', () => {
  let url = '';
  let close: () => Promise<void>;
  let mode: Mode;
  let requests: number;
  let bytesSent: number;
  let hanging: ServerResponse[];
  let clock: number;

  const token = (jti = 'jti-00000001') => {
    const t = Math.floor(clock / 1000);
    const claims = { iss: ISSUER, sub: 'bot', aud: 'demo', client_id: 'bot', iat: t, exp: t + 3600, jti, scope: 'read', backend: 'demo' };
    return compact({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, claims, ed25519Signer(signer.privateKey));
  };
  const verifier = (options: Partial<VerifierOptions> = {}) =>
    createVerifier({ issuer: ISSUER, url, audience: 'demo', introspect: true, timeoutMs: 1_000, now: () => clock, ...options });
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (err: unknown) => (isCreddyError(err) ? err.code : `not a CreddyError: ${String(err)}`),
    );

  beforeAll(async () => {
    const server = createServer((req, res) => {
      if (req.url === '/.well-known/jwks.json') {
        const body = JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: signer.x, alg: 'EdDSA', use: 'sig' }] });
        return void res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=3600' }).end(body);
      }
      const jti = /^\/v1\/revocations\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      if (!jti) return void res.writeHead(404).end();
      requests++;
      const verdict = JSON.stringify({ jti, revoked: false, kid: 'k1' });
      if (mode === 'silent') return void hanging.push(res);
      if (mode === 'bad-gateway') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      if (mode === 'slow') return void setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(verdict), 100);
      if (mode === 'padded') {
        // A verdict, well-formed JSON, but 1 MiB of it: not an answer the broker gives.
        const body = JSON.stringify({ jti, revoked: false, kid: 'k1', pad: 'x'.repeat(1024 * 1024) });
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
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
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(verdict);
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
    requests = 0;
    bytesSent = 0;
    hanging = [];
    clock = 1_700_000_000_000;
  });

  it('accepts a token the deny-list clears (control)', async () => {
    expect(await outcome(verifier().verify(token()))).toBe('ok');
    expect(requests).toBe(1);
  });

  it('fails closed on a verdict padded past 4 KiB (the broker answers under 200 bytes)', async () => {
    mode = 'padded';
    const err = await verifier()
      .verify(token())
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ISSUER_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/larger than 4096 bytes/);
  });

  it.each([
    ['streamed without a length', 'huge-stream'],
    ['with a Content-Length above the cap', 'huge-declared'],
  ] as const)('refuses a huge answer without reading it all (%s)', async (_, huge) => {
    mode = huge;
    expect(await outcome(verifier().verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // 64 MiB on offer; socket buffers hold a few MiB at most, the verifier reads 4 KiB.
    expect(bytesSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('a deny-list that never answers costs one timeout, then fails at once for 5 s', async () => {
    const v = verifier();
    mode = 'silent';
    const first = Date.now();
    expect(await outcome(v.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
    expect(Date.now() - first).toBeGreaterThanOrEqual(900); // the one timeout (timeoutMs 1 000)
    const start = Date.now();
    for (let i = 0; i < 4; i++) expect(await outcome(v.verify(token(`jti-0000000${i + 2}`)))).toBe('ERR_ISSUER_UNAVAILABLE');
    // At once: without the retry delay each of these waited its own 1 s timeout.
    expect(Date.now() - start).toBeLessThan(900);
    expect(requests).toBe(1);
    clock += 4_999;
    expect(await outcome(v.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
    expect(requests).toBe(1);
    clock += 1;
    mode = 'ok';
    expect(await outcome(v.verify(token()))).toBe('ok'); // asked again, and it recovers
    expect(requests).toBe(2);
  });

  it('a failing answer (502) also holds the next checks off for 5 s', async () => {
    const v = verifier();
    mode = 'bad-gateway';
    for (let i = 0; i < 10; i++) expect(await outcome(v.verify(token()))).toBe('ERR_ISSUER_UNAVAILABLE');
    expect(requests).toBe(1);
  });

  it('concurrent checks of one token share one request, answered or not', async () => {
    const v = verifier();
    mode = 'slow';
    expect(await Promise.all(Array.from({ length: 5 }, () => outcome(v.verify(token()))))).toEqual(Array(5).fill('ok'));
    expect(requests).toBe(1);
    mode = 'silent';
    const results = await Promise.all(Array.from({ length: 5 }, () => outcome(v.verify(token()))));
    expect(results).toEqual(Array(5).fill('ERR_ISSUER_UNAVAILABLE'));
    expect(requests).toBe(2);
  });

  it('a verdict is never reused: each later check asks again', async () => {
    const v = verifier();
    for (let i = 0; i < 3; i++) expect(await outcome(v.verify(token()))).toBe('ok');
    expect(requests).toBe(3);
  });
});
