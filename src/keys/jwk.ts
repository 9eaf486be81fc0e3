import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CreddyError } from '../errors.js';

/** Public Ed25519 key as a JWK (RFC 8037), as published in the JWKS. */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url. */
export function thumbprint(x: string): string {
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
}

/** A freshly generated signing key: kid, public x, and the private key (PKCS#8 DER for sealing). */
export interface GeneratedKey {
  readonly kid: string;
  readonly x: string;
  readonly privateDer: Buffer;
}

export function generateSigningKey(): GeneratedKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { kid: thumbprint(x), x, privateDer: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

/** Rebuilds the private KeyObject from PKCS#8 DER and checks it matches the published key. */
export function privateKeyFromDer(der: Uint8Array, expectedX: string): KeyObject {
  const key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  if (x !== expectedX) throw new CreddyError('ERR_KEK_INVALID', 'private key does not match its public key');
  return key;
}

export function publicJwk(x: string): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x, kid: thumbprint(x), alg: 'EdDSA', use: 'sig' };
}
