import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { describeDuration, formatDuration } from '../_utils/duration.js';
import { CreddyError } from '../errors.js';
import type { KeyOp } from '../store/port.js';
import { newKeyRecord } from './new-key.js';
import { nextReadyAt } from './timing.js';
import { activeKeys, applyRetryingBusy, type CrashHook, type KeyActor, type KeyServices, keyEvent, MAX_ATTEMPTS } from './transition.js';
import { unsealSigningKey } from './unseal.js';

export interface RotateOptions {
  readonly actor: KeyActor;
  /**
   * Promote `next` even if it has been published for less than `publish_ahead` (+ lag). Verifiers
   * that cached the JWKS before it appeared reject its tokens until their cache expires.
   */
  readonly force?: boolean;
  /**
   * The `current` kid the caller saw. If another process has rotated since, the request is
   * already satisfied and nothing more happens (so a timer and a CLI racing rotate once).
   * Defaults to the current kid read at the start.
   */
  readonly expectCurrent?: string;
  readonly crash?: CrashHook;
}

export interface RotateResult {
  /** False when another process rotated first; current/next are then that rotation's. */
  readonly rotated: boolean;
  readonly current: string;
  readonly next: string;
  /** The key this call retired, or null. */
  readonly retired: string | null;
}

/**
 * Rotates the signing keys: `current` → `retired`, the published `next` → `current`, and a fresh
 * `next`, as one guarded transaction (`store.keys.apply`), so every process sees either the old
 * or the new triple and the store never holds two signers or no successor. A lost race is retried
 * after re-reading; if the race was lost to another rotation, that rotation counts.
 *
 * Unless `force`, `next` is promoted only once it has been published for `publish_ahead` plus
 * PUBLISH_LAG_S, so every verifier that honours the JWKS max-age already knows it; before that it
 * fails at once with ERR_NOT_YET, `details.ready_at` saying when it can (callers that want to
 * wait, like `creddy keys rotate --wait`, wait for that and call again).
 */
export async function rotateKeys(services: KeyServices, options: RotateOptions): Promise<RotateResult> {
  const { store, clock, config } = services;
  let expect = options.expectCurrent;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { current, next } = activeKeys(await store.keys.list());
    if (!current)
      throw new CreddyError('ERR_NOT_READY', 'no current signing key; start the server once or run any operator command to create one');
    expect ??= current.kid;
    if (current.kid !== expect) return { rotated: false, current: current.kid, next: next?.kid ?? '', retired: null };
    const now = nowSeconds(clock);
    if (!next) {
      // A damaged store: create the successor first; it must then be published before it signs.
      await insertNext(services, options.actor, now);
      continue;
    }
    const readyAt = nextReadyAt(next, config.keys);
    if (!options.force && now < readyAt) {
      const at = isoSeconds(readyAt);
      throw new CreddyError(
        'ERR_NOT_YET',
        `next key ${next.kid} has been published for less than publish_ahead (${formatDuration(config.keys.publishAhead)}); rotation is possible from ${at} (in ${describeDuration(readyAt - now)}); --wait waits for it, --force rotates now`,
        { details: { ready_at: at, seconds_left: readyAt - now, next_kid: next.kid } },
      );
    }
    // Never promote a key this process cannot decrypt (wrong KEK): fail before changing anything.
    unsealSigningKey(services.keks, next);
    const successor = newKeyRecord(services.keks, 'next', now);
    const ops: KeyOp[] = [
      { op: 'update', kid: current.kid, expect: 'current', set: { state: 'retired', retiredAt: now } },
      { op: 'update', kid: next.kid, expect: 'next', set: { state: 'current', activatedAt: now } },
      { op: 'insert', key: successor },
    ];
    const details = { retired: current.kid, current: next.kid, next: successor.kid, forced: options.force === true };
    const events = [
      keyEvent(services, 'key.retired', options.actor, current.kid, details),
      keyEvent(services, 'key.activated', options.actor, next.kid, details),
      keyEvent(services, 'key.created', options.actor, successor.kid, { ...details, state: 'next' }),
    ];
    options.crash?.('rotate:generated');
    if (!(await applyRetryingBusy(services, ops, events, attempt))) continue;
    options.crash?.('rotate:committed');
    services.logger.info('signing keys rotated', { actor: options.actor, ...details });
    return { rotated: true, current: next.kid, next: successor.kid, retired: current.kid };
  }
  throw new CreddyError('ERR_CONFLICT', `key rotation lost ${MAX_ATTEMPTS} races in a row; try again`);
}

/** Inserts a fresh `next` if none exists; the unique index lets only one racing process win. */
export async function insertNext(services: KeyServices, actor: KeyActor, now: number): Promise<void> {
  const successor = newKeyRecord(services.keks, 'next', now);
  await applyRetryingBusy(
    services,
    [{ op: 'insert', key: successor }],
    [keyEvent(services, 'key.created', actor, successor.kid, { state: 'next' })],
    0,
  );
}
