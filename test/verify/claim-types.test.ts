import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyCreddyToken } from '../../src/verify/token.js';
import { attackerEd25519, compact, ed25519Signer } from './forge.js';

/** Found by bench/fuzz-token.mjs: a validly signed token whose claims have the wrong types. */
describe('claim types', () => {
  const key = attackerEd25519();
  const keys = createLocalJWKSet({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.x, kid: 'k1', alg: 'EdDSA' }] });
  const issuer = 'http://127.0.0.1:8400';
  const t = Math.floor(Date.now() / 1000);
  const base = {
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
  };
  const signed = (claims: Record<string, unknown>) =>
    compact({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, claims, ed25519Signer(key.privateKey));

  it('well-typed claims verify (control), metadata included', async () => {
    await expect(
      verifyCreddyToken(signed({ ...base, metadata: { task: 'x' } }), { issuer, audience: 'demo', keys }),
    ).resolves.toMatchObject({ sub: 'bot' });
  });

  it.each([
    ['scope', 12],
    ['scope', ['read']],
    ['client_id', null],
    ['sub', {}],
    ['jti', 7],
    ['backend', true],
    ['exp', t + 600.5],
    ['iat', '1'],
    ['metadata', ['a']],
    ['metadata', { task: 1 }],
    ['metadata', null],
  ])('%s = %j → ERR_TOKEN_INVALID', async (claim, value) => {
    await expect(verifyCreddyToken(signed({ ...base, [claim]: value }), { issuer, audience: 'demo', keys })).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
    });
  });
});
