import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { isCanonicalBase64url } from '../../src/verify/base64url.js';
import { verifyCreddyToken } from '../../src/verify/token.js';
import { attackerEd25519, compact, ed25519Signer, segments } from './forge.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('canonical base64url', () => {
  it('accepts exactly the encodings Buffer produces', () => {
    for (let n = 0; n < 70; n++) {
      const canonical = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)).toString('base64url');
      expect(isCanonicalBase64url(canonical)).toBe(true);
      if (canonical.length % 4 === 0) continue;
      // Every other last character that decodes to the same bytes is refused.
      const same = [...ALPHABET].filter((c) => {
        const variant = canonical.slice(0, -1) + c;
        return variant !== canonical && Buffer.from(variant, 'base64url').equals(Buffer.from(canonical, 'base64url'));
      });
      expect(same.length).toBe(canonical.length % 4 === 2 ? 15 : 3);
      for (const c of same) expect(isCanonicalBase64url(canonical.slice(0, -1) + c)).toBe(false);
    }
  });
  it('refuses impossible lengths and foreign characters', () => {
    for (const text of ['A', 'AAAAA', 'AA=', 'A+', 'A/', 'AA AA']) expect(isCanonicalBase64url(text)).toBe(false);
  });
});

describe('token malleability', () => {
  const key = attackerEd25519();
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: key.x, kid: 'k1', alg: 'EdDSA' };
  const keys = createLocalJWKSet({ keys: [jwk] });
  const issuer = 'http://127.0.0.1:8400';
  const t = Math.floor(Date.now() / 1000);
  const token = compact(
    { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
    {
      iss: issuer,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t,
      nbf: t,
      exp: t + 600,
      jti: 'j1234567890',
      scope: 'read',
      backend: 'demo',
    },
    ed25519Signer(key.privateKey),
  );
  const [h, p, s] = segments(token);

  it('the canonical token verifies (control)', async () => {
    await expect(verifyCreddyToken(token, { issuer, audience: 'demo', keys })).resolves.toMatchObject({ jti: 'j1234567890' });
  });

  // 64 signature bytes are 86 characters whose last one carries 2 bits: 15 other characters
  // decode to the very same signature, and each must be refused.
  const variants = [...ALPHABET].filter(
    (c) => c !== s.at(-1) && Buffer.from(s.slice(0, -1) + c, 'base64url').equals(Buffer.from(s, 'base64url')),
  );
  it('there are 15 equivalent spellings of the signature', () => expect(variants).toHaveLength(15));
  it.each(variants)('signature ending in %s instead → ERR_TOKEN_INVALID', async (c) => {
    await expect(verifyCreddyToken(`${h}.${p}.${s.slice(0, -1)}${c}`, { issuer, audience: 'demo', keys })).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
    });
  });

  it('a non-canonical header or payload tail is refused too', async () => {
    for (const [i, segment] of [h, p].entries()) {
      if (segment.length % 4 === 0) continue;
      const alt = [...ALPHABET].find(
        (c) => c !== segment.at(-1) && Buffer.from(segment.slice(0, -1) + c, 'base64url').equals(Buffer.from(segment, 'base64url')),
      );
      if (!alt) continue;
      const edited = i === 0 ? `${h.slice(0, -1)}${alt}.${p}.${s}` : `${h}.${p.slice(0, -1)}${alt}.${s}`;
      await expect(verifyCreddyToken(edited, { issuer, audience: 'demo', keys })).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    }
  });
});
