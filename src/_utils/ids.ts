import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Random URL-safe identifier with `bytes` bytes of entropy. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of a UTF-8 string, hex. Used to store bearer tokens and fingerprint secrets. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Fingerprint of a secret fit for audit rows and logs: `sha256:` + first 16 hex chars. */
export function fingerprint(secret: string): string {
  return `sha256:${sha256Hex(secret).slice(0, 16)}`;
}

/** Constant-time equality of two hex digests of the same length. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
