import { nowSeconds } from '../_utils/clock.js';
import { CreddyError } from '../errors.js';
import type { KeyRecord } from '../model/key.js';
import type { KeyOp } from '../store/port.js';
import { newKeyRecord } from './new-key.js';
import { activeKeys, applyRetryingBusy, type KeyActor, type KeyServices, keyEvent, MAX_ATTEMPTS } from './transition.js';

export interface RevokeOptions {
  readonly actor: KeyActor;
  /** Required to revoke `current`: the broker then signs with the promoted `next` at once. */
  readonly force?: boolean;
}

export interface RevokeKeyResult {
  readonly kid: string;
  /** The state the key was in when it was revoked (or `revoked` if it already was). */
  readonly was: KeyRecord['state'];
  readonly alreadyRevoked: boolean;
  readonly current: string;
  readonly next: string;
}

/**
 * Revokes a signing key: it leaves the JWKS at the next keyring refresh (≤ 1 s) instead of
 * waiting for its tokens to expire, so every token it signed stops verifying. Revoking `next`
 * replaces it; revoking `current` (with `force`) promotes `next` immediately — even if verifiers
 * may not have cached it yet, because a compromised signer is worse — and creates a new `next`.
 * All in one guarded transaction, retried on a lost race.
 */
export async function revokeKey(services: KeyServices, kid: string, options: RevokeOptions): Promise<RevokeKeyResult> {
  const { store, clock } = services;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const records = await store.keys.list();
    const target = records.find((k) => k.kid === kid);
    if (!target) throw new CreddyError('ERR_KEY_UNKNOWN', `no signing key with kid ${kid} (see creddy keys list)`);
    const { current, next } = activeKeys(records);
    if (target.state === 'revoked') {
      return { kid, was: 'revoked', alreadyRevoked: true, current: current?.kid ?? '', next: next?.kid ?? '' };
    }
    if (target.state === 'current' && !options.force) {
      throw new CreddyError(
        'ERR_USAGE',
        `key ${kid} is the current signing key; revoking it needs --force (the next key ${next?.kid ?? '(none)'} then signs at once)`,
      );
    }
    const now = nowSeconds(clock);
    const ops: KeyOp[] = [{ op: 'update', kid, expect: target.state, set: { state: 'revoked', revokedAt: now } }];
    let promoted: KeyRecord | undefined;
    let created: KeyRecord[] = [];
    if (target.state === 'current') {
      // The successor signs now; if there is none, a fresh key must (nothing was published ahead).
      promoted = next ?? newKeyRecord(services.keks, 'current', now);
      const successor = newKeyRecord(services.keks, 'next', now);
      if (next) ops.push({ op: 'update', kid: next.kid, expect: 'next', set: { state: 'current', activatedAt: now } });
      else ops.push({ op: 'insert', key: promoted });
      ops.push({ op: 'insert', key: successor });
      created = next ? [successor] : [promoted, successor];
    } else if (target.state === 'next') {
      const successor = newKeyRecord(services.keks, 'next', now);
      ops.push({ op: 'insert', key: successor });
      created = [successor];
    }
    const events = [
      keyEvent(services, 'key.revoked', options.actor, kid, { was: target.state, ...(promoted ? { current: promoted.kid } : {}) }),
      ...(promoted && next
        ? [keyEvent(services, 'key.activated', options.actor, promoted.kid, { reason: 'current key revoked', revoked: kid })]
        : []),
      ...created.map((key) =>
        keyEvent(services, 'key.created', options.actor, key.kid, { state: key.state, reason: `key ${kid} revoked` }),
      ),
    ];
    if (!(await applyRetryingBusy(services, ops, events, attempt))) continue;
    services.logger.info('signing key revoked', { actor: options.actor, kid, was: target.state });
    const after = activeKeys(await store.keys.list());
    return { kid, was: target.state, alreadyRevoked: false, current: after.current?.kid ?? '', next: after.next?.kid ?? '' };
  }
  throw new CreddyError('ERR_CONFLICT', `revoking ${kid} lost ${MAX_ATTEMPTS} races in a row; try again`);
}
