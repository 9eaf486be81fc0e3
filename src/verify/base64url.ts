const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when `text` is the one canonical unpadded base64url encoding of some bytes. Decoders
 * ignore the unused low bits of the last character, so 16 spellings decode to the same 64-byte
 * signature (4 for a 2-bit tail): a verifier that accepted them all would let anything keyed on
 * the token string (replay caches, deny-lists) be fooled by an equivalent copy.
 */
export function isCanonicalBase64url(text: string): boolean {
  const tail = text.length % 4;
  if (tail === 1) return false; // no byte count encodes to 4n + 1 characters
  for (let i = 0; i < text.length; i++) if (ALPHABET.indexOf(text[i]!) < 0) return false;
  if (tail === 0) return true;
  // 2 trailing characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
  const unusedBits = tail === 2 ? 4 : 2;
  return (ALPHABET.indexOf(text[text.length - 1]!) & ((1 << unusedBits) - 1)) === 0;
}
