import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/**
 * Builders for hostile tokens. Each one is what an attacker can make without creddy's private
 * key: other algorithms, other keys, edited segments. Nothing here touches creddy's own modules.
 */

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export const decodeSegment = <T = Record<string, unknown>>(segment: string): T =>
  JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as T;

/** The three segments of a compact JWS. */
export function segments(token: string): [string, string, string] {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) throw new Error('not a compact JWS');
  return [h, p, s];
}

/** `header.payload.signature` where `signer` gets the signing input. */
export function compact(header: unknown, claims: unknown, signer: (input: Buffer) => Buffer | string): string {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const sig = signer(Buffer.from(input));
  return `${input}.${typeof sig === 'string' ? sig : sig.toString('base64url')}`;
}

/** HMAC signer: the classic alg-confusion attack uses the verifier's public key as the secret. */
export const hmac =
  (hash: 'sha256' | 'sha512', secret: Buffer | string) =>
  (input: Buffer): Buffer =>
    createHmac(hash, secret).update(input).digest();

/** An Ed25519 key pair the attacker controls. */
export function attackerEd25519(): { privateKey: KeyObject; x: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, x: publicKey.export({ format: 'jwk' }).x! };
}

export const ed25519Signer =
  (privateKey: KeyObject) =>
  (input: Buffer): Buffer =>
    sign(null, input, privateKey);

/** ES256 with a P-256 key the attacker controls (IEEE P1363 r||s, 64 bytes, as JWS wants). */
export function es256Signer(): (input: Buffer) => Buffer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return (input) => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

/** RS256 with a 2048-bit RSA key the attacker controls. */
export function rs256Signer(): (input: Buffer) => Buffer {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return (input) => sign('sha256', input, privateKey);
}

/** Flips one bit of the decoded signature and re-encodes it canonically. */
export function flipSignatureBit(token: string, byteIndex: number, bit = 0): string {
  const [h, p, s] = segments(token);
  const bytes = Buffer.from(s, 'base64url');
  bytes[byteIndex] = bytes[byteIndex]! ^ (1 << bit);
  return `${h}.${p}.${bytes.toString('base64url')}`;
}

/** Replaces the payload with `edit(claims)`, keeping the original header and signature. */
export function editPayload(token: string, edit: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [h, p, s] = segments(token);
  return `${h}.${b64url(edit(decodeSegment(p)))}.${s}`;
}
