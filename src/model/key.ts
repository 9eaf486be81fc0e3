/** Signing-key states: `next` (published, not signing) → `current` → `retired` → gone; `revoked` at once. */
export type KeyState = 'next' | 'current' | 'retired' | 'revoked';

/** One signing key. Times are epoch seconds. */
export interface KeyRecord {
  /** RFC 7638 thumbprint of the public JWK. */
  readonly kid: string;
  readonly state: KeyState;
  /** Public Ed25519 key, base64url (the JWK `x`). */
  readonly publicX: string;
  /** Private key (PKCS#8 DER) sealed by keys/kek (AES-256-GCM, AAD = kid). */
  readonly sealedPrivate: Uint8Array;
  /** Which KEK sealed it, so a rewrap knows what is left to do. */
  readonly kekId: string;
  readonly createdAt: number;
  /** When it first appeared in the JWKS. */
  readonly publishedAt: number;
  readonly activatedAt: number | null;
  readonly retiredAt: number | null;
  readonly revokedAt: number | null;
}
