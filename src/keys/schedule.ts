import { nowSeconds } from '../_utils/clock.js';
import type { Keyring } from './keyring.js';
import { type RotateResult, rotateKeys } from './rotate.js';
import { plannedRotationAt } from './timing.js';
import { activeKeys, type KeyServices } from './transition.js';

/** The server's rotation timer: call `tick()` periodically (after each keyring refresh). */
export interface RotationSchedule {
  /** Rotates if `current` is older than `rotation_period` and `next` is ready; else does nothing. */
  tick(): Promise<RotateResult | undefined>;
}

/**
 * Scheduled rotation. Each tick reads the keyring's last refresh (no query) and rotates only when
 * the plan says so; the rotation itself is guarded by the current kid seen here, so several
 * replicas (or a replica and `creddy keys rotate`) racing produce exactly one rotation.
 */
export function createRotationSchedule(services: KeyServices & { readonly keyring: Keyring }): RotationSchedule {
  let running = false;
  return {
    async tick() {
      if (running) return undefined; // a slow tick must not overlap the next one
      const { current, next } = activeKeys(services.keyring.records());
      if (!current) return undefined;
      const due = plannedRotationAt(current, next, services.config.keys);
      if (due === undefined || nowSeconds(services.clock) < due) return undefined;
      running = true;
      try {
        const result = await rotateKeys(services, { actor: 'schedule', expectCurrent: current.kid });
        // Sign with the new key in this process now, not at the next refresh.
        await services.keyring.refresh();
        return result;
      } finally {
        running = false;
      }
    },
  };
}
