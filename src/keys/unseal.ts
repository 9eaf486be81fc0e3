import type { KeyObject } from 'node:crypto';
import { CreddyError } from '../errors.js';
import type { KeyRecord } from '../model/key.js';
import { privateKeyFromDer } from './jwk.js';
import { type KekSet, open } from './kek.js';

/** AAD binding a sealed private key to its kid, so a blob moved to another row fails to open. */
export const signingKeyAad = (kid: string): string => `creddy-signing-key:${kid}`;

/**
 * Opens a stored signing key with whichever configured KEK sealed it (`kekId`), and checks the
 * private key matches the published one. Every failure is ERR_KEK_INVALID naming the problem:
 * a KEK that is not configured (wrong CREDDY_KEK, or a KEK rotation without
 * CREDDY_KEK_PREVIOUS), or data that does not authenticate (altered, truncated, wrong key).
 */
export function unsealSigningKey(keks: KekSet, record: KeyRecord): { der: Buffer; key: KeyObject } {
  const kek = keks.byId(record.kekId);
  if (!kek) {
    const configured = `${keks.current.id}${keks.previous ? ` and previous ${keks.previous.id}` : ''}`;
    throw new CreddyError(
      'ERR_KEK_INVALID',
      `wrong KEK: signing key ${record.kid} is sealed by KEK id ${record.kekId}, but the configured KEK id is ${configured}; ` +
        'check CREDDY_KEK, or during a KEK rotation set CREDDY_KEK_PREVIOUS to the old KEK and run `creddy keys rewrap`',
    );
  }
  let der: Buffer;
  try {
    der = open(kek, record.sealedPrivate, signingKeyAad(record.kid));
  } catch (err) {
    throw new CreddyError(
      'ERR_KEK_INVALID',
      `signing key ${record.kid} does not decrypt under KEK ${kek.id}: the stored key was altered or is corrupt`,
      { cause: err },
    );
  }
  try {
    return { der, key: privateKeyFromDer(der, record.publicX) };
  } catch (err) {
    throw new CreddyError('ERR_KEK_INVALID', `signing key ${record.kid} decrypts to a key that does not match its public key`, {
      cause: err,
    });
  }
}
