import type { SecretSelector } from '../../store/port.js';

/** One readable version of a secret, unsealed. */
export interface SecretReading {
  readonly path: string;
  readonly version: number;
  readonly value: string;
  readonly createdAt: number;
  /** When a newer version replaced it (null for the current version). */
  readonly supersededAt: number | null;
  /** Until when a replaced version stays readable at most (the longest grace of the backends serving it). */
  readonly readableUntil: number | null;
}

/**
 * Where `type: secret` backends read values from: the store, unsealed with the KEK. Passed in by
 * the composition root (backends sit below the KEK), never imported.
 */
export interface SecretSource {
  /**
   * The readable versions of the paths `selector` covers at `now`, by path, newest first. More
   * than `maxPaths` paths is ERR_SCOPE_INVALID, found before any value is unsealed.
   */
  read(selector: SecretSelector, now: number, maxPaths: number): Promise<SecretReading[]>;
  /** Erases the values of versions past their grace; returns how many. */
  erase(now: number): Promise<number>;
}
