import type { AuditKeyUsage, AuditRow } from '../model/audit.js';

/**
 * Rows sealed by an audit key that is not configured: this process cannot check them. Usually a
 * key dropped from `CREDDY_AUDIT_KEY_PREVIOUS` while rows it sealed are still kept; but a row
 * written, or edited keeping its hash, by someone without the keys looks the same, so they are
 * never called untouched.
 * The guard, `audit verify` and `doctor` name such keys by id (never the key) and the fix.
 */

/** What to do about rows sealed by a key that is not configured. */
export const UNCONFIGURED_KEY_FIX =
  'add the key to CREDDY_AUDIT_KEY_PREVIOUS (comma-separated) or CREDDY_AUDIT_KEY_PREVIOUS_FILE (one per line) and keep it while the log holds rows it sealed; a key id you never used means someone else wrote those rows: investigate, and never add a key you cannot account for';

/** Adds `row` to the usage of its key in `usage` (rows arrive in any order). */
export function noteKeyUsage(usage: Map<string, AuditKeyUsage>, row: Pick<AuditRow, 'keyId' | 'seq'>): void {
  const seen = usage.get(row.keyId);
  usage.set(
    row.keyId,
    seen
      ? { keyId: row.keyId, firstSeq: Math.min(seen.firstSeq, row.seq), lastSeq: Math.max(seen.lastSeq, row.seq), rows: seen.rows + 1 }
      : { keyId: row.keyId, firstSeq: row.seq, lastSeq: row.seq, rows: 1 },
  );
}

/** `seq 1-3, 3 rows` */
export function describeRows(usage: AuditKeyUsage): string {
  const seqs = usage.firstSeq === usage.lastSeq ? `seq ${usage.firstSeq}` : `seq ${usage.firstSeq}-${usage.lastSeq}`;
  return `${seqs}, ${usage.rows} row${usage.rows === 1 ? '' : 's'}`;
}

/** `key id 3f…a1 (seq 1-3, 3 rows)` */
export const describeKeyUsage = (usage: AuditKeyUsage): string => `key id ${usage.keyId} (${describeRows(usage)})`;

/** `rows sealed by an audit key that is not configured: key id … (…); key id … (…)` */
export function describeUnconfigured(usages: Iterable<AuditKeyUsage>): string {
  const sorted = [...usages].sort((a, b) => a.firstSeq - b.firstSeq);
  return `rows sealed by ${sorted.length === 1 ? 'an audit key' : 'audit keys'} that ${sorted.length === 1 ? 'is' : 'are'} not configured: ${sorted.map(describeKeyUsage).join('; ')}`;
}
