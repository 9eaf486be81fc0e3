import type { Store } from '../store/port.js';
import type { AuditKeySet } from './key.js';
import { type AuditPublicKey, publicKeysOf } from './signing-key.js';
import { type ChainReport, verifyChain } from './verify-chain.js';

/**
 * Verifies the whole log in a store. Checkpoint signatures are checked against `pinned` when
 * given (an operator's copy of `creddy audit pubkey`), else against the public keys stored in
 * the database itself — which an attacker with file access could replace, hence the pin.
 */
export async function verifyStore(store: Store, keys: AuditKeySet | undefined, pinned?: AuditPublicKey): Promise<ChainReport> {
  const checkpoints = await store.audit.checkpoints();
  const publicKeys = pinned ? [pinned] : publicKeysOf(await store.audit.signingKeys());
  return verifyChain({
    page: (afterSeq, limit) => store.audit.query({ afterSeq, limit, order: 'asc' }),
    checkpoints,
    publicKeys,
    keys,
    start: 'strict',
  });
}
