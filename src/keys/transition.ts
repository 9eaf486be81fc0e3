import type { Clock } from '../_utils/clock.js';
import type { Logger } from '../_utils/logger.js';
import type { KeysConfig } from '../config/types.js';
import { isCreddyError } from '../errors.js';
import type { AuditEvent, AuditType } from '../model/audit.js';
import { auditEvent } from '../model/audit.js';
import type { KeyRecord } from '../model/key.js';
import type { AuditSealer, KeyOp, Store } from '../store/port.js';
import type { KekSet } from './kek.js';

/**
 * What the key lifecycle operations need. The broker's `Services` satisfies it structurally, so
 * the server (schedule) and the CLI (rotate, revoke, rewrap) call the same functions.
 */
export interface KeyServices {
  readonly store: Store;
  readonly keks: KekSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: { readonly keys: KeysConfig };
  /** Seals the audit rows each transition appends in its own transaction. */
  readonly auditSeal: AuditSealer;
}

/** Who started a key transition, as recorded in the audit log. */
export type KeyActor = 'cli' | 'schedule' | 'server';

/** Called at named points inside a transition; tests inject one (runCli hooks) to kill the process there. */
export type CrashHook = (step: string) => void;

/** Lost races and busy locks are retried this often before giving up. */
export const MAX_ATTEMPTS = 20;

/** One key audit row, to commit with the transition it records (see applyRetryingBusy). */
export function keyEvent(
  services: Pick<KeyServices, 'clock'>,
  type: AuditType,
  actor: string,
  kid: string,
  details: Record<string, unknown>,
): AuditEvent {
  return auditEvent({ time: services.clock.now(), type, outcome: 'success', actor, kid, details });
}

/**
 * Applies `ops` and appends `events` in one transaction: a crash can never leave a transition
 * without its audit rows. A busy lock counts as a lost race (false) after a short backoff.
 */
export async function applyRetryingBusy(
  services: KeyServices,
  ops: readonly KeyOp[],
  events: readonly AuditEvent[],
  attempt: number,
): Promise<boolean> {
  try {
    return await services.store.keys.apply(ops, { events, seal: services.auditSeal });
  } catch (err) {
    if (!isBusy(err)) throw err;
    await backoff(attempt);
    return false;
  }
}

/** The `current` and `next` rows of a key list (either may be missing in a damaged store). */
export function activeKeys(records: readonly KeyRecord[]): { current: KeyRecord | undefined; next: KeyRecord | undefined } {
  return { current: records.find((k) => k.state === 'current'), next: records.find((k) => k.state === 'next') };
}

/**
 * True for a transient lock conflict with another process: the store translates its driver's
 * busy/serialization errors to ERR_STORE_BUSY, so the transition was not applied and may simply
 * be tried again.
 */
export function isBusy(err: unknown): boolean {
  return isCreddyError(err, 'ERR_STORE_BUSY');
}

/** A short randomised pause so racing processes do not retry in lock-step. */
export const backoff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.min(500, 20 * 2 ** attempt) * (0.5 + Math.random())));
