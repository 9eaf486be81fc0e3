import { createPublicKey, verify as nodeVerify, type webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as noble from '@noble/ed25519';
import { importJWK } from 'jose';
import { describe, expect, it } from 'vitest';

/**
 * Wycheproof Ed25519 verification vectors (Project Wycheproof, Apache-2.0), vendored in
 * test/vectors/wycheproof/ (see its NOTICE). Every vector runs through the three Ed25519
 * verifiers creddy relies on:
 *
 * - node:crypto `verify(null, …)`, the primitive paired with creddy's signer (keys/sign.ts);
 * - the jose path: jose cannot wrap an arbitrary message in a JWS (the signing input always
 *   starts with `<protected header>.`), so the key is imported with jose's `importJWK` and
 *   checked with `crypto.subtle.verify('Ed25519', …)` — exactly the call jose's JWS verify makes
 *   (jose/dist/webapi/lib/jws_verify.js) after its header checks;
 * - @noble/ed25519 with `{ zip215: false }`, as creddy requires wherever it verifies.
 *
 * `valid` must verify and `invalid` must be rejected; Wycheproof marks no Ed25519 vector
 * `acceptable`, and the test fails if one appears rather than guessing.
 */
const VECTORS = resolve(import.meta.dirname, '../vectors/wycheproof/ed25519_test.json');

interface Vector {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly msg: string;
  readonly sig: string;
  readonly result: 'valid' | 'invalid' | 'acceptable';
}
interface Suite {
  readonly numberOfTests: number;
  readonly testGroups: ReadonlyArray<{ readonly publicKey: { readonly pk: string }; readonly tests: readonly Vector[] }>;
}

const suite = JSON.parse(readFileSync(VECTORS, 'utf8')) as Suite;
const cases = suite.testGroups.flatMap((group) => group.tests.map((vector) => ({ pk: group.publicKey.pk, ...vector })));
type Case = (typeof cases)[number];

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const jwkOf = (pk: string) => ({ kty: 'OKP', crv: 'Ed25519', x: hex(pk).toString('base64url') });

/** Each verifier answers true (accepted) or false (rejected); a throw counts as rejected. */
const verifiers: Record<string, (c: Case) => Promise<boolean>> = {
  'node:crypto': async (c) => {
    try {
      return nodeVerify(null, hex(c.msg), createPublicKey({ key: jwkOf(c.pk), format: 'jwk' }), hex(c.sig));
    } catch {
      return false;
    }
  },
  'jose (importJWK + WebCrypto Ed25519)': async (c) => {
    try {
      const key = await importJWK(jwkOf(c.pk), 'EdDSA');
      return await crypto.subtle.verify('Ed25519', key as webcrypto.CryptoKey, hex(c.sig), hex(c.msg));
    } catch {
      return false;
    }
  },
  '@noble/ed25519 { zip215: false }': async (c) => {
    try {
      return await noble.verifyAsync(hex(c.sig), hex(c.msg), hex(c.pk), { zip215: false });
    } catch {
      return false;
    }
  },
};

describe('Wycheproof Ed25519 vectors', () => {
  it('holds all 151 vectors, each valid or invalid', () => {
    expect(suite.numberOfTests).toBe(151);
    expect(cases).toHaveLength(151);
    expect(new Set(cases.map((c) => c.tcId)).size).toBe(151);
    expect(cases.filter((c) => c.result === 'acceptable')).toEqual([]);
  });

  for (const [name, accepts] of Object.entries(verifiers)) {
    it(`${name}: every valid vector verifies and every invalid one is rejected`, async () => {
      const wrong: string[] = [];
      for (const c of cases) {
        if ((await accepts(c)) !== (c.result === 'valid')) wrong.push(`tcId ${c.tcId} (${c.result}, ${c.flags.join(',')}): ${c.comment}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  it('why zip215: false — @noble/ed25519 defaults to ZIP-215 and accepts invalid tcId 151', async () => {
    // If an upgrade changes this, the requirement can be revisited; until then any code that
    // verifies with noble must pass { zip215: false }.
    const c = cases.find((v) => v.tcId === 151)!;
    expect(c.result).toBe('invalid');
    expect(await noble.verifyAsync(hex(c.sig), hex(c.msg), hex(c.pk))).toBe(true);
  });
});
