/**
 * One version of a stored secret. The value is sealed under the KEK (AES-256-GCM, AAD bound to
 * path and version) before it reaches the store, and erased (`sealed` null) once it can no
 * longer be read: past its grace after a rotation, or when the path is deleted. Times are epoch s.
 */
export interface SecretVersionRecord {
  /** Opaque row id: lets tables be paged by one key (store copy, rewrap). */
  readonly id: string;
  /** `prod/stripe/api-key`: one namespace across every secret backend. */
  readonly path: string;
  /** 1, 2, …: never reused for a path, even after it was deleted. */
  readonly version: number;
  /** The sealed value; null once erased. */
  readonly sealed: Uint8Array | null;
  /** Id of the KEK that sealed it; null once erased. */
  readonly kekId: string | null;
  readonly createdAt: number;
  /** Who wrote it (`cli`), as in its audit row. */
  readonly createdBy: string;
  /** True when creddy generated the value (`secret put --generate`): no person ever saw it. */
  readonly generated: boolean;
  /** When a newer version replaced it; null for the current version. */
  readonly supersededAt: number | null;
  /** After a rotation: until when this (previous) version stays readable; null for the current one. */
  readonly readableUntil: number | null;
  /** When the path was deleted (set on every version of the path, whose values are erased). */
  readonly deletedAt: number | null;
}
