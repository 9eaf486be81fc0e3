import { createHash, generateKeyPairSync } from 'node:crypto';
import * as noble from '@noble/ed25519';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, EmbeddedJWK, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createClientAssertion, createDpopProof } from '../../src/client/proofs.js';
import { decodeBase64url, encodeBase64url } from '../../src/verify/base64url.js';
import { verifyClientAssertion } from '../../src/verify/client-assertion.js';
import { verifyDpopProof } from '../../src/verify/dpop.js';
import { createReplayCache } from '../../src/verify/replay-cache.js';
import { jwkThumbprint } from '../../src/verify/thumbprint.js';

/**
 * The key-pair client's output, checked by verifiers that share no code with it: jose (and
 * node:crypto for the raw signature), then creddy's own verifier pieces, which the broker's
 * key-pair and DPoP support will use. The client signs with @noble/ed25519 over WebCrypto only.
 */
const issuer = 'https://creddy.example.com';
const decode = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('base64url and thumbprints without Buffer', () => {
  it('encodes and decodes exactly like Buffer, for every length and byte', () => {
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 0xff);
      const expected = Buffer.from(bytes).toString('base64url');
      expect(encodeBase64url(bytes)).toBe(expected);
      expect(Buffer.from(decodeBase64url(expected)!).equals(Buffer.from(bytes))).toBe(true);
    }
    expect(encodeBase64url('héllo ✓')).toBe(Buffer.from('héllo ✓').toString('base64url'));
    for (const bad of ['A', 'AB=', 'A+B/', 'AB', 'ABF']) expect(decodeBase64url(bad), bad).toBeUndefined(); // AB, ABF: non-canonical tails
  });

  it('computes RFC 7638 thumbprints as jose does, and the RFC 7638 §3.1 example', async () => {
    for (let i = 0; i < 5; i++) {
      const { publicJwk } = await generateAgentKey();
      expect(await jwkThumbprint(publicJwk)).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
    }
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ec = publicKey.export({ format: 'jwk' }) as { kty: 'EC'; crv: 'P-256'; x: string; y: string };
    expect(await jwkThumbprint(ec)).toBe(await calculateJwkThumbprint(ec, 'sha256'));
  });
});

describe('agent keys', () => {
  it('accepts the seed, a private JWK and a PKCS#8 PEM of one key, with the same public key as node:crypto', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; d: string; x: string };
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const seed = new Uint8Array(Buffer.from(jwk.d, 'base64url'));
    const signers = await Promise.all([createAgentSigner(seed), createAgentSigner(jwk), createAgentSigner(pem)]);
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    for (const signer of signers) expect(signer.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x });
  });

  it('refuses malformed keys and a JWK whose x belongs to another key', async () => {
    const other = await generateAgentKey();
    const { privateJwk } = await generateAgentKey();
    await expect(createAgentSigner({ ...privateJwk, x: other.publicJwk.x })).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(createAgentSigner(new Uint8Array(31))).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(createAgentSigner('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    await expect(createAgentSigner(rsa)).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(createAgentSigner({ ...privateJwk, d: `${privateJwk.d.slice(0, -1)}B` })).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });
});

describe('client assertion (RFC 7523)', () => {
  it('is an EdDSA JWT with iss = sub = agent, aud = issuer, exp = iat + 60, a fresh jti; jose and node:crypto verify it', async () => {
    const key = await generateAgentKey();
    const signer = await createAgentSigner(key.privateJwk);
    const before = Math.floor(Date.now() / 1000);
    const [a, b] = [
      await createClientAssertion(signer, { agent: 'bot', audience: issuer }),
      await createClientAssertion(signer, { agent: 'bot', audience: issuer }),
    ];
    const { payload, protectedHeader } = await jwtVerify(a, await importJWK(key.publicJwk, 'EdDSA'), {
      algorithms: ['EdDSA'],
      issuer: 'bot',
      subject: 'bot',
      audience: issuer,
    });
    expect(protectedHeader).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: key.jkt });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(decode(b.split('.')[1]!).jti).not.toBe(payload.jti);

    // The raw signature, by node:crypto over the exact signing input, and by noble in strict mode.
    const [h, p, s] = a.split('.') as [string, string, string];
    const { createPublicKey, verify } = await import('node:crypto');
    const nodeKey = createPublicKey({ key: { ...key.publicJwk }, format: 'jwk' });
    expect(verify(null, Buffer.from(`${h}.${p}`), nodeKey, Buffer.from(s, 'base64url'))).toBe(true);
    const publicBytes = new Uint8Array(Buffer.from(key.publicJwk.x, 'base64url'));
    expect(
      await noble.verifyAsync(Buffer.from(s, 'base64url'), new TextEncoder().encode(`${h}.${p}`), publicBytes, { zip215: false }),
    ).toBe(true);
  });

  it("passes creddy's assertion verifier once: a replay, another audience or another key is refused", async () => {
    const key = await generateAgentKey();
    const signer = await createAgentSigner(key.privateJwk);
    const replay = createReplayCache();
    const checks = { audience: [issuer], publicKey: (agent: string) => (agent === 'bot' ? key.publicJwk : undefined), replay };
    const assertion = await createClientAssertion(signer, { agent: 'bot', audience: issuer });
    await expect(verifyClientAssertion(assertion, checks)).resolves.toMatchObject({ agent: 'bot' });
    await expect(verifyClientAssertion(assertion, checks)).rejects.toMatchObject({
      code: 'ERR_UNAUTHENTICATED',
      message: expect.stringContaining('replay'),
    });
    const elsewhere = await createClientAssertion(signer, { agent: 'bot', audience: 'https://other.example.com' });
    await expect(verifyClientAssertion(elsewhere, checks)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    const impostor = await createClientAssertion(await createAgentSigner((await generateAgentKey()).privateJwk), {
      agent: 'bot',
      audience: issuer,
    });
    await expect(verifyClientAssertion(impostor, checks)).rejects.toMatchObject({
      code: 'ERR_UNAUTHENTICATED',
      message: expect.stringContaining('signature'),
    });
    const unknown = await createClientAssertion(signer, { agent: 'stranger', audience: issuer });
    await expect(verifyClientAssertion(unknown, checks)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    // An assertion from the past (a stolen log line) and one that would live too long.
    const old = await createClientAssertion(signer, { agent: 'bot', audience: issuer, now: () => Date.now() - 120_000 });
    await expect(verifyClientAssertion(old, checks)).rejects.toMatchObject({
      code: 'ERR_UNAUTHENTICATED',
      message: expect.stringContaining('expired'),
    });
    const future = await createClientAssertion(signer, { agent: 'bot', audience: issuer, now: () => Date.now() + 120_000 });
    await expect(verifyClientAssertion(future, checks)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
  });

  it('picks the registered key the header kid names among several (rotation), and says which verified', async () => {
    const [current, next] = [await generateAgentKey(), await generateAgentKey()];
    const checks = {
      audience: [issuer],
      publicKey: (agent: string) => (agent === 'bot' ? [current.publicJwk, next.publicJwk] : []),
      replay: createReplayCache(),
    };
    for (const key of [current, next]) {
      const signer = await createAgentSigner(key.privateJwk);
      await expect(
        verifyClientAssertion(await createClientAssertion(signer, { agent: 'bot', audience: issuer }), checks),
      ).resolves.toMatchObject({
        agent: 'bot',
        jkt: key.jkt,
      });
      // Without a kid every registered key is tried.
      const bare = await signer.sign(
        { typ: 'JWT' },
        { iss: 'bot', sub: 'bot', aud: issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: key.jkt },
      );
      await expect(verifyClientAssertion(bare, checks)).resolves.toMatchObject({ jkt: key.jkt });
    }
    // A kid that names the other registered key: that key alone is tried, and fails.
    const lying = await (await createAgentSigner(current.privateJwk)).sign(
      { typ: 'JWT', kid: next.jkt },
      { iss: 'bot', sub: 'bot', aud: issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: 'lying' },
    );
    await expect(verifyClientAssertion(lying, checks)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
  });
});

describe('DPoP proof (RFC 9449)', () => {
  it('carries typ dpop+jwt, the public jwk only, htm, htu without query and fragment, iat, jti and ath; jose verifies it', async () => {
    const key = await generateAgentKey();
    const signer = await createAgentSigner(key.privateJwk);
    const accessToken = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib3QifQ.c2ln';
    const proof = await createDpopProof(signer, { method: 'post', url: 'https://API.example.com:443/a/./b?q=1#frag', accessToken });
    const header = decodeProtectedHeader(proof);
    expect(header).toEqual({ typ: 'dpop+jwt', jwk: key.publicJwk, alg: 'EdDSA' });
    expect(Object.keys(header.jwk!)).not.toContain('d');
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['EdDSA'] });
    expect(payload).toMatchObject({ htm: 'POST', htu: 'https://api.example.com/a/b' });
    expect(payload.ath).toBe(createHash('sha256').update(accessToken).digest('base64url'));
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
    expect(await calculateJwkThumbprint(header.jwk!, 'sha256')).toBe(key.jkt);
    await expect(compactVerify(proof, await importJWK(key.publicJwk, 'EdDSA'))).resolves.toBeTruthy();
    // fetch sends non-standard methods as written, so the proof does too.
    expect(decode((await createDpopProof(signer, { method: 'patch', url: 'https://x.example/' })).split('.')[1]!).htm).toBe('patch');
  });

  it("passes creddy's proof verifier bound to its key, and only once", async () => {
    const key = await generateAgentKey();
    const signer = await createAgentSigner(key.privateJwk);
    const accessToken = 'header.payload.signature';
    const url = 'https://api.example.com/files?page=2';
    const checks = { accessToken, jkt: key.jkt, maxAge: 60, clockTolerance: 5, replay: createReplayCache(), now: Date.now };
    const proof = await createDpopProof(signer, { method: 'GET', url, accessToken });
    await expect(verifyDpopProof({ proof, method: 'GET', url: 'https://api.example.com/files' }, checks)).resolves.toEqual({
      jkt: key.jkt,
      jti: expect.any(String),
    });
    await expect(verifyDpopProof({ proof, method: 'GET', url }, checks)).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID',
      message: expect.stringContaining('replay'),
    });
  });

  it('refuses a proof with ath where the request presents no token (issuance), and takes one without', async () => {
    const signer = await createAgentSigner((await generateAgentKey()).privateJwk);
    const url = 'https://creddy.example.com/v1/credentials';
    const checks = { accessToken: null, maxAge: 60, clockTolerance: 5, replay: createReplayCache(), now: Date.now };
    const withAth = await createDpopProof(signer, { method: 'POST', url, accessToken: 'a.b.c' });
    await expect(verifyDpopProof({ proof: withAth, method: 'POST', url }, checks)).rejects.toMatchObject({
      code: 'ERR_DPOP_INVALID',
      message: expect.stringContaining('ath'),
    });
    const plain = await createDpopProof(signer, { method: 'POST', url });
    await expect(verifyDpopProof({ proof: plain, method: 'POST', url }, checks)).resolves.toMatchObject({ jkt: signer.jkt });
  });
});
