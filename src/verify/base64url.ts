/**
 * Canonical unpadded base64url (RFC 4648 §5) without `Buffer`, so the same code runs in Node,
 * browsers and edge runtimes (the client SDK signs with it, the verifier checks with it).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/**
 * True when `text` is the one canonical unpadded base64url encoding of some bytes. Decoders
 * ignore the unused low bits of the last character, so 16 spellings decode to the same 64-byte
 * signature (4 for a 2-bit tail): a verifier that accepted them all would let anything keyed on
 * the token string (replay caches, deny-lists) be fooled by an equivalent copy.
 */
export function isCanonicalBase64url(text: string): boolean {
  const tail = text.length % 4;
  if (tail === 1) return false; // no byte count encodes to 4n + 1 characters
  for (let i = 0; i < text.length; i++) if (!VALUES.has(text[i]!)) return false;
  if (tail === 0) return true;
  // 2 trailing characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
  const unusedBits = tail === 2 ? 4 : 2;
  return (VALUES.get(text[text.length - 1]!)! & ((1 << unusedBits) - 1)) === 0;
}

/** Encodes bytes (or a string, as UTF-8) as canonical unpadded base64url. */
export function encodeBase64url(input: Uint8Array | string): string {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += ALPHABET[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/** Decodes canonical base64url; undefined for anything else (padding, `+`/`/`, a non-canonical tail). */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!isCanonicalBase64url(text)) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    value = ((value << 6) | VALUES.get(text[i]!)!) & 0xffff; // only the pending bits matter
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

/** Decodes a canonical base64url segment holding a JSON object; undefined when it is anything else. */
export function decodeJsonSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
