import { randomBytes } from 'node:crypto';
import { CreddyError } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Bytes at or above this are rejected so every character is equally likely (248 = 4 × 62). */
const LIMIT = 256 - (256 % ALPHABET.length);

/** Shortest and longest `--generate N`: 16 characters is ~95 bits, the least worth calling a secret. */
export const GENERATE_MIN = 16;
export const GENERATE_MAX = 4096;

/**
 * A random value of `length` letters and digits (≈5.95 bits each), uniform by rejection
 * sampling: safe in URLs, shells, env files and connection strings without quoting.
 */
export function generateSecretValue(length: number): string {
  if (!Number.isSafeInteger(length) || length < GENERATE_MIN || length > GENERATE_MAX) {
    throw new CreddyError('ERR_USAGE', `--generate takes a length from ${GENERATE_MIN} to ${GENERATE_MAX}`);
  }
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= LIMIT) continue;
      out += ALPHABET[byte % ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}
