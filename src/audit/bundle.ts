import { createHash } from 'node:crypto';

/** Export bundle layout (a ustar file; see docs/audit.md). Member order is fixed. */
export const BUNDLE_FORMAT = 'creddy-audit-bundle/v1';
export const BUNDLE_FILES = ['manifest.json', 'manifest.sig', 'events.ndjson', 'checkpoints.ndjson', 'audit-signing-key.pem'] as const;
/** The files whose SHA-256 the manifest lists (everything but the manifest and its signature). */
export const HASHED_FILES = ['events.ndjson', 'checkpoints.ndjson', 'audit-signing-key.pem'] as const;

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly created_at: string;
  readonly issuer: string;
  readonly range: { readonly since: string | null; readonly until: string | null };
  readonly events: { readonly count: number; readonly first_seq: number | null; readonly last_seq: number | null };
  readonly checkpoints: number;
  readonly audit_key_ids: readonly string[];
  readonly signing_key: { readonly kid: string; readonly x: string };
  readonly chain_verified_at_export: boolean;
  readonly files: Readonly<Record<(typeof HASHED_FILES)[number], { readonly sha256: string; readonly bytes: number }>>;
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** One NDJSON line: a compact JSON value ending in "\n". */
export const ndjsonLine = (value: unknown): string => `${JSON.stringify(value)}\n`;
