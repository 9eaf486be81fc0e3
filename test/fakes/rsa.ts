import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';

/** Keys this worker has made, handed out again to each later test file. */
const made: Array<{ privateKey: KeyObject; publicKey: KeyObject }> = [];
/** How many of them the current test file has taken. */
const taken = new Map<string, number>();

/**
 * An RSA-2048 key pair for a fake (a GitHub App's key, an OIDC issuer's signing key). Generating
 * one costs about 0.15 s of CPU, longer on a busy machine, and the suite needs dozens: each worker
 * keeps those it made and hands them out again in the next test file. Within a file every call
 * returns a different key, as fresh ones would; files never share a broker or a fake, so a key
 * seen in an earlier file means nothing to a later one.
 */
export function rsaKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  const file = expect.getState().testPath;
  if (file === undefined) return generateKeyPairSync('rsa', { modulusLength: 2048 });
  const index = taken.get(file) ?? 0;
  taken.set(file, index + 1);
  made[index] ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return made[index];
}
