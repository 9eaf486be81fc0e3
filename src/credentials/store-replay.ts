import { sha256Hex } from '../_utils/ids.js';
import type { Store } from '../store/port.js';
import type { ReplayCache } from '../verify/replay-cache.js';

/** What a one-time id is spent for; part of the key, so ids of one kind never collide with another's. */
export type ReplayPurpose = 'client-assertion' | 'dpop-proof';

/**
 * The verifiers' replay cache over the store's replay record (`store.replay.claim`, shared by
 * every replica): a client assertion or a DPoP proof replayed to another broker process is
 * refused there too. Keys are SHA-256 digests of purpose and id; expiry is rounded up to seconds.
 */
export function storeReplayCache(store: Pick<Store, 'replay'>, purpose: ReplayPurpose): ReplayCache {
  return {
    use: (id, expiresAt) => store.replay.claim(sha256Hex(`${purpose}\n${id}`), Math.ceil(expiresAt / 1000)),
  };
}
