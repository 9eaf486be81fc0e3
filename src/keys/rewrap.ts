import { CreddyError, isCreddyError } from '../errors.js';
import type { KeyRecord } from '../model/key.js';
import { seal } from './kek.js';
import { applyRetryingBusy, type CrashHook, type KeyActor, type KeyServices, keyEvent, MAX_ATTEMPTS } from './transition.js';
import { signingKeyAad, unsealSigningKey } from './unseal.js';

export interface RewrapOptions {
  readonly actor: KeyActor;
  /** Called after each row with the count done so far and the total to do (a progress line). */
  readonly onProgress?: (done: number, total: number, kid: string) => void;
  /** Called for each row left as it is because no configured KEK opens it (see RewrapResult.skipped). */
  readonly onSkip?: (skipped: SkippedKey) => void;
  readonly crash?: CrashHook;
}

/** A signing-key row rewrap left as it is: its sealed private key opens with no configured KEK. */
export interface SkippedKey {
  readonly kid: string;
  readonly state: KeyRecord['state'];
  readonly kekId: string;
  /** Why it does not open (unsealSigningKey's message: kids and KEK ids, never key material). */
  readonly problem: string;
}

export interface RewrapResult {
  /** Rows re-sealed by this run. */
  readonly rewrapped: number;
  /** Rows that were already sealed by the current KEK (and open with it). */
  readonly alreadyCurrent: number;
  /**
   * Rows neither the current nor the previous KEK opens, left untouched: a row written by someone
   * without the KEK (INSERT on the store), an altered one, or one sealed by a KEK not configured —
   * whatever `kek_id` it claims, the current KEK's included.
   */
  readonly skipped: readonly SkippedKey[];
  readonly total: number;
  readonly kekId: string;
}

/**
 * Re-seals every stored private key (all states, revoked included) under the current KEK, opening
 * each with the KEK that sealed it (`CREDDY_KEK_PREVIOUS` during a KEK rotation). Each row is
 * its own guarded update: an interrupted run leaves every row sealed by either the old or the new
 * KEK, both of which the keyring opens by `kekId`, and a re-run picks up where it stopped. Once
 * it completes, the old KEK is no longer needed for the rows it rewrapped.
 *
 * A row that opens with no configured KEK is skipped and reported, not a stop: someone with
 * INSERT on the store but no KEK can add such a row, and it must not keep every other row on the
 * old KEK. It was never published nor used to sign (keys/keyring.ts), and nothing is lost by
 * leaving it: nothing could open it. The caller decides what a skipped row means (the CLI fails).
 */
export async function rewrapKeys(services: KeyServices, options: RewrapOptions): Promise<RewrapResult> {
  const { store, keks } = services;
  const records = await store.keys.list();
  const todo = records.filter((k) => k.kekId !== keks.current.id).map((k) => k.kid);
  let done = 0;
  let rewrapped = 0;
  let alreadyCurrent = 0;
  const skipped: SkippedKey[] = [];
  const skip = (row: KeyRecord, err: CreddyError): void => {
    const named = { kid: row.kid, state: row.state, kekId: row.kekId, problem: err.message };
    skipped.push(named);
    options.onSkip?.(named);
  };
  // A row that claims the current KEK is opened too: kek_id is only a label, which whoever writes
  // a row without the KEK sets as they like. Counted as already done, it would go unnamed.
  for (const row of records) {
    if (row.kekId !== keks.current.id) continue;
    try {
      unsealSigningKey(keks, row).der.fill(0);
      alreadyCurrent++;
    } catch (err) {
      if (!isCreddyError(err, 'ERR_KEK_INVALID')) throw err;
      skip(row, err);
    }
  }
  for (const kid of todo) {
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS)
        throw new CreddyError('ERR_CONFLICT', `rewrapping ${kid} lost ${MAX_ATTEMPTS} races in a row; run it again`);
      // Re-read each time: a concurrent rotation may have changed the row's state (the guard).
      const row = (await store.keys.list()).find((k) => k.kid === kid);
      if (!row || row.kekId === keks.current.id) break; // another rewrap got there first
      let der: Buffer;
      try {
        ({ der } = unsealSigningKey(keks, row));
      } catch (err) {
        if (!isCreddyError(err, 'ERR_KEK_INVALID')) throw err;
        skip(row, err);
        break;
      }
      const sealedPrivate = seal(keks.current, der, signingKeyAad(kid));
      der.fill(0);
      const ops = [{ op: 'update', kid, expect: row.state, set: { sealedPrivate, kekId: keks.current.id } }] as const;
      const event = keyEvent(services, 'key.rewrapped', options.actor, kid, {
        state: row.state,
        from_kek: row.kekId,
        to_kek: keks.current.id,
      });
      if (!(await applyRetryingBusy(services, ops, [event], attempt))) continue;
      rewrapped++;
      break;
    }
    done++;
    if (skipped.at(-1)?.kid !== kid) options.onProgress?.(done, todo.length, kid);
    options.crash?.(`rewrap:row-${done}`);
  }
  return { rewrapped, alreadyCurrent, skipped, total: records.length, kekId: keks.current.id };
}
