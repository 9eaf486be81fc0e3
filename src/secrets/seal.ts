import type { KekSet } from '../keys/kek.js';
import { open, openWithAny, seal } from '../keys/kek.js';
import type { SecretVersionRecord } from '../model/secret.js';

/**
 * AAD of a sealed secret value: bound to its version and path, so a sealed value moved to another
 * path or version fails to open (a database editor cannot swap or roll values without the KEK).
 * The version comes first: it holds no `:`, so no two (path, version) pairs share an AAD.
 */
export const secretValueAad = (path: string, version: number): string => `creddy-secret:${version}:${path}`;

/** Seals `value` for (path, version) under the current KEK. */
export function sealSecretValue(keks: KekSet, path: string, version: number, value: string): Buffer {
  const plain = Buffer.from(value, 'utf8');
  try {
    return seal(keks.current, plain, secretValueAad(path, version));
  } finally {
    plain.fill(0);
  }
}

/** Opens a stored version's value with the KEK that sealed it (or, failing that, current then previous). */
export function openSecretValue(keks: KekSet, record: SecretVersionRecord & { sealed: Uint8Array }): string {
  const aad = secretValueAad(record.path, record.version);
  const kek = record.kekId === null ? undefined : keks.byId(record.kekId);
  const plain = kek ? open(kek, record.sealed, aad) : openWithAny(keks, record.sealed, aad);
  try {
    return plain.toString('utf8');
  } finally {
    plain.fill(0);
  }
}
