/** A source of time, injected so tests can move it; milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Whole seconds since the epoch, as JWT claims want them. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

/** ISO-8601 UTC without milliseconds (`2026-01-15T16:00:00Z`), the API's timestamp format. */
export function isoSeconds(epochSeconds: number): string {
  return isoUtc(epochSeconds * 1000);
}

/** The same format from epoch milliseconds (audit rows) or a Date (SDK results). */
export function isoUtc(time: number | Date): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
