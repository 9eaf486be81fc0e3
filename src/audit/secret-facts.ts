import { createHash } from 'node:crypto';
import type { AuditRow } from '../model/audit.js';
import type { SecretVersionRecord } from '../model/secret.js';
import type { SecretSelector } from '../store/port.js';

/** What the audit log says about one version of a stored secret. */
interface SecretVersionFacts {
  /** Until when it stays readable once replaced (its rotation's `previous_readable_until`); null while current or not known. */
  readableUntil: number | null;
  /** SHA-256 of its sealed value as last written (`sealed_sha256`); null when the row predates it. */
  sealedSha256: string | null;
  /** Whether creddy generated it; null when not known. */
  generated: boolean | null;
}

/** What the audit log says about one secret path: its `secret.*` rows applied in seq order. */
export interface SecretPathFacts {
  /** The newest version the log records. */
  current: number;
  /** Every version up to this one was deleted (`secret.deleted`); 0 when never. */
  deletedThrough: number;
  readonly versions: Map<number, SecretVersionFacts>;
}

/** The row types that carry a secret's state. */
export const SECRET_STATE_TYPES = ['secret.created', 'secret.rotated', 'secret.deleted', 'secret.rewrapped'] as const;

/**
 * SHA-256 (hex) of a sealed value, as the `secret.*` rows that write one record it: `audit verify`
 * can then tell a swapped or restored ciphertext without the KEK. It says nothing about the value:
 * the ciphertext is AES-256-GCM under a random nonce.
 */
export const sealedDigest = (sealed: Uint8Array): string => createHash('sha256').update(sealed).digest('hex');

/** Applies one `secret.*` row (in seq order); other rows are ignored. */
export function applySecretFact(secrets: Map<string, SecretPathFacts>, row: AuditRow): void {
  const d = row.details ?? {};
  const path = d['path'];
  const version = d['version'];
  if (typeof path !== 'string' || typeof version !== 'number') return;
  let facts = secrets.get(path);
  if (!facts) {
    facts = { current: version, deletedThrough: 0, versions: new Map() };
    secrets.set(path, facts);
  }
  const entry = (n: number): SecretVersionFacts => {
    let v = facts.versions.get(n);
    if (!v) {
      v = { readableUntil: null, sealedSha256: null, generated: null };
      facts.versions.set(n, v);
    }
    return v;
  };
  const digest = typeof d['sealed_sha256'] === 'string' ? d['sealed_sha256'] : null;
  if (row.type === 'secret.created' || row.type === 'secret.rotated') {
    const previous = d['previous_version'];
    const until = d['previous_readable_until'];
    if (typeof previous === 'number' && typeof until === 'number') entry(previous).readableUntil = until;
    Object.assign(entry(version), { readableUntil: null, sealedSha256: digest, generated: d['generated'] === true });
    facts.current = version;
  } else if (row.type === 'secret.deleted') {
    facts.deletedThrough = Math.max(facts.deletedThrough, version);
  } else if (row.type === 'secret.rewrapped' && digest) {
    entry(version).sealedSha256 = digest;
  }
}

/** A secret version that disagrees with the log. */
export interface SecretProblem {
  readonly path: string;
  readonly version: number;
  readonly problem: string;
}

const created = (record: SecretVersionRecord, prunedBefore: number): boolean => record.createdAt * 1000 < prunedBefore;

/**
 * What is wrong with the versions the store returned as readable for `selector`, or null:
 * each must be a version the log records, not deleted, current if the log says current and
 * replaced (with the log's grace) otherwise; and every live path the log has under `selector`
 * must be there at its current version — a rolled-back, un-deleted, re-graced or hidden version
 * is refused. Rows from before retention's cut (`prunedBefore`, epoch ms) are judged only where
 * their events remain. Costs a map lookup per record and per log path under the selector (found
 * by binary search in the sorted paths).
 */
export function secretReadProblem(
  secrets: ReadonlyMap<string, SecretPathFacts>,
  selector: SecretSelector,
  records: readonly SecretVersionRecord[],
  prunedBefore: number,
): SecretProblem | null {
  const served = new Map<string, number>();
  for (const record of records) {
    const { path, version } = record;
    const wrong = (problem: string): SecretProblem => ({ path, version, problem });
    const facts = secrets.get(path);
    if (!facts) {
      if (created(record, prunedBefore)) continue;
      return wrong('the log has no secret.created row for it');
    }
    if (version <= facts.deletedThrough) return wrong('the log records the deletion of its path');
    if (version > facts.current) return wrong(`the log records no such version (its newest is ${facts.current})`);
    if (version === facts.current) {
      if (record.supersededAt !== null) return wrong('the log says it is current, the row says it was replaced');
      served.set(path, version);
      continue;
    }
    const known = facts.versions.get(version);
    if (!known && !created(record, prunedBefore)) return wrong('the log records no such version');
    if (record.supersededAt === null) return wrong(`the log says version ${facts.current} replaced it, the row says it is current`);
    const until = known?.readableUntil ?? null;
    if (until !== null && record.readableUntil !== until) {
      return wrong(`readable until ${record.readableUntil}, but the log gave it until ${until}`);
    }
  }
  const check = (path: string, facts: SecretPathFacts): SecretProblem | null =>
    facts.current > facts.deletedThrough && served.get(path) !== facts.current
      ? { path, version: facts.current, problem: 'the log says it is current, but the store does not serve it' }
      : null;
  for (const path of selector.paths) {
    const facts = secrets.get(path);
    const problem = facts && check(path, facts);
    if (problem) return problem;
  }
  if (selector.prefixes.length === 0) return null;
  const sorted = sortedPaths(secrets);
  for (const prefix of selector.prefixes) {
    for (let i = lowerBound(sorted, prefix); i < sorted.length && sorted[i]!.startsWith(prefix); i++) {
      const path = sorted[i]!;
      const problem = check(path, secrets.get(path)!);
      if (problem) return problem;
    }
  }
  return null;
}

/**
 * The log's paths in code-unit order, where those under a prefix are contiguous. Paths are only
 * ever added to the facts, so the map's size tells whether the sorted copy is current.
 */
const sortedCache = new WeakMap<ReadonlyMap<string, SecretPathFacts>, string[]>();
function sortedPaths(secrets: ReadonlyMap<string, SecretPathFacts>): string[] {
  let sorted = sortedCache.get(secrets);
  if (sorted?.length !== secrets.size) {
    sorted = [...secrets.keys()].sort();
    sortedCache.set(secrets, sorted);
  }
  return sorted;
}

/** The first index of `sorted` whose string is not below `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * What is wrong with every stored version of one path against the log, or null (`audit verify`):
 * each row must be a version the log records, deleted exactly when the log deleted it, current or
 * replaced (with its grace) as the log says, holding the sealed value the log last recorded for it
 * (a ciphertext swapped between paths or restored from a backup differs), and every version the
 * log records must still have its row.
 */
export function secretRowsProblem(
  facts: SecretPathFacts | undefined,
  path: string,
  rows: readonly SecretVersionRecord[],
  prunedBefore: number,
): SecretProblem | null {
  if (!facts) {
    const unknown = rows.find((row) => !created(row, prunedBefore));
    return unknown ? { path, version: unknown.version, problem: 'the log has no secret.created row for it' } : null;
  }
  const oldestKnown = Math.min(...facts.versions.keys());
  for (const row of rows) {
    const wrong = (problem: string): SecretProblem => ({ path, version: row.version, problem });
    const known = facts.versions.get(row.version);
    if (!known) {
      if (row.version < oldestKnown && created(row, prunedBefore)) continue;
      return wrong('the log records no such version');
    }
    if (row.version <= facts.deletedThrough) {
      if (row.deletedAt === null) return wrong('the log records the deletion of its path, the row says live');
      if (row.sealed !== null) return wrong('its path is deleted, yet the row holds a value');
      continue;
    }
    if (row.deletedAt !== null) return wrong('the row says deleted, the log records no deletion');
    if (row.version === facts.current) {
      if (row.supersededAt !== null || row.readableUntil !== null) return wrong('the log says it is current, the row says it was replaced');
      if (row.sealed === null) return wrong('the log says it is current, but its value is erased');
    } else {
      if (row.supersededAt === null) return wrong(`the log says version ${facts.current} replaced it, the row says it is current`);
      if (known.readableUntil !== null && row.readableUntil !== known.readableUntil) {
        return wrong(`readable until ${row.readableUntil}, but the log gave it until ${known.readableUntil}`);
      }
    }
    if (row.sealed !== null && known.sealedSha256 !== null && sealedDigest(row.sealed) !== known.sealedSha256) {
      return wrong('its sealed value is not the one the log records (swapped or restored from a copy)');
    }
    if (known.generated !== null && row.generated !== known.generated) return wrong('its generated flag differs from the log');
  }
  const stored = new Set(rows.map((row) => row.version));
  for (const version of facts.versions.keys()) {
    if (!stored.has(version)) return { path, version, problem: 'its row is gone, though the log records it' };
  }
  return null;
}
