import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyDpopProof } from '../../src/verify/dpop.js';
import { createReplayCache, type ReplayCache } from '../../src/verify/replay-cache.js';
import { b64url, compact, segments } from './forge.js';

/**
 * DPoP proof verification (RFC 9449 §4.3) against proofs built here with node:crypto, so each
 * case changes exactly one thing of an otherwise valid proof. The client's own proofs are
 * checked in test/client/proofs.test.ts.
 */
const URL_ = 'https://api.example.com/files/report.txt';
const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJjbmYiOnt9fQ.signature-of-the-access-token';
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

interface ProofKey {
  readonly alg: 'EdDSA' | 'ES256';
  readonly jwk: Record<string, string>;
  readonly privateKey: KeyObject;
  readonly jkt: string;
}

function keyPair(alg: 'EdDSA' | 'ES256' = 'EdDSA'): ProofKey {
  const { publicKey, privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const full = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk = alg === 'EdDSA' ? { kty: 'OKP', crv: 'Ed25519', x: full['x']! } : { kty: 'EC', crv: 'P-256', x: full['x']!, y: full['y']! };
  const members = alg === 'EdDSA' ? ['crv', 'kty', 'x'] : ['crv', 'kty', 'x', 'y'];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m as keyof typeof jwk]])));
  return { alg, jwk, privateKey, jkt: createHash('sha256').update(canonical).digest('base64url') };
}

const signWith = (key: ProofKey) => (input: Buffer) =>
  key.alg === 'EdDSA' ? sign(null, input, key.privateKey) : sign('sha256', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });

function proof(key: ProofKey, header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}, signer = signWith(key)): string {
  return compact(
    { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header },
    { jti: `jti-${Math.random().toString(36).slice(2)}`, htm: 'GET', htu: URL_, iat: nowS(), ath: ath(TOKEN), ...claims },
    signer,
  );
}

const checks = (key: ProofKey, overrides: Partial<Parameters<typeof verifyDpopProof>[1]> = {}) => ({
  accessToken: TOKEN,
  jkt: key.jkt,
  maxAge: 60,
  clockTolerance: 5,
  replay: createReplayCache(),
  now: Date.now,
  ...overrides,
});

const verify = (p: string, key: ProofKey, request: { method?: string; url?: string } = {}, overrides = {}) =>
  verifyDpopProof({ proof: p, method: request.method ?? 'GET', url: request.url ?? URL_ }, checks(key, overrides));

const rejected = async (p: Promise<unknown>, reason: string | RegExp) => {
  await expect(p).rejects.toMatchObject({ code: 'ERR_DPOP_INVALID', message: expect.stringMatching(reason) });
};

describe('DPoP proof verification', () => {
  const ed = keyPair('EdDSA');
  const es = keyPair('ES256');

  it('accepts a valid EdDSA proof and a valid ES256 proof, bound to their key (controls)', async () => {
    await expect(verify(proof(ed), ed)).resolves.toMatchObject({ jkt: ed.jkt });
    await expect(verify(proof(es), es)).resolves.toMatchObject({ jkt: es.jkt });
  });

  it('refuses a wrong or missing typ, and any other alg (none, HMAC, RS256)', async () => {
    await rejected(verify(proof(ed, { typ: 'JWT' }), ed), 'typ');
    await rejected(verify(proof(ed, { typ: undefined }), ed), 'typ');
    await rejected(verify(proof(ed, { typ: 'application/dpop+jwt' }), ed), 'typ');
    await rejected(
      verify(`${b64url({ typ: 'dpop+jwt', alg: 'none', jwk: ed.jwk })}.${b64url({ htm: 'GET', htu: URL_, iat: nowS(), jti: 'x' })}.`, ed),
      'compact',
    );
    const hmac = proof(ed, { alg: 'HS256' }, {}, (input) => createHash('sha256').update(input).digest());
    await rejected(verify(hmac, ed), 'alg');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaProof = proof(ed, { alg: 'RS256', jwk: rsa.publicKey.export({ format: 'jwk' }) }, {}, (input) =>
      sign('sha256', input, rsa.privateKey),
    );
    await rejected(verify(rsaProof, ed), 'alg');
  });

  it('refuses a missing jwk, a private jwk, a jwk of the wrong type, and a signature by another key', async () => {
    await rejected(verify(proof(ed, { jwk: undefined }), ed), 'jwk');
    const privateJwk = ed.privateKey.export({ format: 'jwk' });
    await rejected(verify(proof(ed, { jwk: privateJwk }), ed), 'private');
    await rejected(verify(proof(ed, { jwk: es.jwk }), ed), 'OKP');
    await rejected(verify(proof(ed, {}, {}, signWith(keyPair())), ed), 'signature');
    // The embedded key of another party, signed by it: valid proof, wrong key for the token.
    const other = keyPair();
    await rejected(verify(proof(other), ed), 'cnf.jkt');
  });

  it('refuses a proof for another method or URL, but ignores query and fragment and normalises the URL', async () => {
    await rejected(verify(proof(ed, {}, { htm: 'POST' }), ed), 'htm');
    await rejected(verify(proof(ed, {}, { htm: 'get' }), ed), 'htm');
    await rejected(verify(proof(ed, {}, { htu: 'https://api.example.com/files/other.txt' }), ed), 'htu');
    await rejected(verify(proof(ed, {}, { htu: 'http://api.example.com/files/report.txt' }), ed), 'htu');
    await rejected(verify(proof(ed, {}, { htu: 'https://evil.example.com/files/report.txt' }), ed), 'htu');
    await rejected(verify(proof(ed, {}, { htu: '/files/report.txt' }), ed), 'htu');
    await expect(verify(proof(ed), ed, { url: `${URL_}?download=1#top` })).resolves.toBeTruthy();
    await expect(verify(proof(ed, {}, { htu: 'HTTPS://API.example.com:443/files/./report.txt' }), ed)).resolves.toBeTruthy();
  });

  it('refuses a proof older than maxAge or from the future beyond the skew', async () => {
    await rejected(verify(proof(ed, {}, { iat: nowS() - 120 }), ed), 'too old');
    await rejected(verify(proof(ed, {}, { iat: nowS() + 60 }), ed), 'future');
    await rejected(verify(proof(ed, {}, { iat: String(nowS()) }), ed), 'iat');
    await expect(verify(proof(ed, {}, { iat: nowS() - 60 }), ed)).resolves.toBeTruthy();
    await expect(verify(proof(ed, {}, { iat: nowS() + 4 }), ed)).resolves.toBeTruthy();
  });

  it('refuses a missing or wrong ath, and a missing or overlong jti', async () => {
    await rejected(verify(proof(ed, {}, { ath: undefined }), ed), 'ath');
    await rejected(verify(proof(ed, {}, { ath: ath('another.access.token') }), ed), 'ath');
    await rejected(verify(proof(ed, {}, { jti: undefined }), ed), 'jti');
    await rejected(verify(proof(ed, {}, { jti: 'x'.repeat(257) }), ed), 'jti');
  });

  it('refuses non-canonical base64url and oversized proofs before any crypto', async () => {
    const [h, p, s] = segments(proof(ed));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = [...alphabet]
      .map((c) => s.slice(0, -1) + c)
      .find((v) => v !== s && Buffer.from(v, 'base64url').equals(Buffer.from(s, 'base64url')))!;
    await rejected(verify(`${h}.${p}.${twin}`, ed), 'canonical');
    await rejected(verify(proof(ed, {}, { pad: 'x'.repeat(5000) }), ed), 'compact');
  });

  it('refuses a replayed jti through the replay cache, which can be shared (injected)', async () => {
    const shared = createReplayCache();
    const p = proof(ed);
    await expect(verify(p, ed, {}, { replay: shared })).resolves.toBeTruthy();
    await rejected(verify(p, ed, {}, { replay: shared }), 'replay');
    const seen: string[] = [];
    const external: ReplayCache = {
      use: async (id) => {
        if (seen.includes(id)) return false;
        seen.push(id);
        return true;
      },
    };
    const q = proof(ed);
    await expect(verify(q, ed, {}, { replay: external })).resolves.toBeTruthy();
    await rejected(verify(q, ed, {}, { replay: external }), 'replay');
    expect(seen).toEqual([`${ed.jkt}:${JSON.parse(Buffer.from(segments(q)[1], 'base64url').toString()).jti}`]);
    // A proof that fails another check never takes room in the cache.
    await rejected(verify(proof(ed, {}, { htm: 'PUT' }), ed, {}, { replay: external }), 'htm');
    expect(seen).toHaveLength(1);
  });
});

describe('in-memory replay cache', () => {
  it('forgets ids once expired and refuses new ids when full rather than forgetting live ones', () => {
    let clock = 1_000_000;
    const cache = createReplayCache({ maxEntries: 2, now: () => clock });
    expect(cache.use('a', clock + 1000)).toBe(true);
    expect(cache.use('a', clock + 1000)).toBe(false);
    expect(cache.use('b', clock + 2000)).toBe(true);
    expect(() => cache.use('c', clock + 2000)).toThrow(expect.objectContaining({ code: 'ERR_DPOP_INVALID' }));
    clock += 1500; // a expired
    expect(cache.use('c', clock + 1000)).toBe(true);
    expect(cache.use('b', clock + 1000)).toBe(false);
    clock += 5000;
    expect(cache.use('a', clock + 1000)).toBe(true);
  });
});
