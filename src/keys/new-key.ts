import type { KeyRecord } from '../model/key.js';
import { generateSigningKey } from './jwk.js';
import { type KekSet, seal } from './kek.js';
import { signingKeyAad } from './unseal.js';

/** A fresh Ed25519 signing key in `state`, its private half sealed under the current KEK. */
export function newKeyRecord(keks: KekSet, state: KeyRecord['state'], now: number): KeyRecord {
  const key = generateSigningKey();
  return {
    kid: key.kid,
    state,
    publicX: key.x,
    sealedPrivate: seal(keks.current, key.privateDer, signingKeyAad(key.kid)),
    kekId: keks.current.id,
    createdAt: now,
    publishedAt: now,
    activatedAt: state === 'current' ? now : null,
    retiredAt: null,
    revokedAt: null,
  };
}
