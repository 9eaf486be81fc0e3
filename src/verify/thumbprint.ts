import { encodeBase64url } from './base64url.js';

/** An Ed25519 public key as a JWK (RFC 8037). */
export interface Ed25519PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** The 32-byte public key, base64url. */
  readonly x: string;
}

/** A P-256 public key as a JWK (RFC 7518 §6.2). */
export interface P256PublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
}

/** The public keys creddy accepts in proofs and assertions. */
export type PublicJwk = Ed25519PublicJwk | P256PublicJwk;

/**
 * SHA-256 of UTF-8 text (or bytes), base64url: the `ath` of RFC 9449 and the RFC 7638 thumbprint digest.
 *
 * @internal
 */
export async function sha256Base64url(input: string | Uint8Array): Promise<string> {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  return encodeBase64url(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public key: the hash of its required members only, in
 * lexicographic order, without whitespace. It is what `cnf.jkt` (RFC 9449) holds and what the
 * broker uses as a kid, so two spellings of the same key (extra members, other order) agree.
 *
 * @internal
 */
export function jwkThumbprint(jwk: PublicJwk): Promise<string> {
  const canonical =
    jwk.kty === 'OKP'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return sha256Base64url(canonical);
}
