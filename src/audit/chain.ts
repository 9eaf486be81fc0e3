import { createHmac } from 'node:crypto';
import type { AuditRow } from '../model/audit.js';
import type { AuditSealer } from '../store/port.js';
import type { AuditKey } from './key.js';

/** JSON with object keys sorted at every depth: one byte sequence per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The canonical encoding of a row: every column in a fixed order, seq, time, type and the key id
 * included, so no column can change without changing the hash.
 */
export function canonicalRow(row: Omit<AuditRow, 'hash'>): string {
  return canonicalJson([
    row.seq,
    row.time,
    row.type,
    row.outcome,
    row.actor,
    row.agent,
    row.backend,
    row.scopes,
    row.jti,
    row.kid,
    row.reason,
    row.clientIp,
    row.requestId,
    row.details,
    row.prevHash,
    row.keyId,
  ]);
}

/** hash = HMAC-SHA256(audit key, prev_hash ‖ canonical(row)), hex. */
export function chainHash(key: AuditKey, row: Omit<AuditRow, 'hash'>): string {
  return createHmac('sha256', key.key).update(row.prevHash).update('\n').update(canonicalRow(row)).digest('hex');
}

/**
 * The sealer the store runs inside its append transaction. It names its own module, so a store
 * that appends on a worker thread rebuilds it there without importing audit code.
 */
export function createSealer(key: AuditKey): AuditSealer {
  const seal = (draft: Omit<AuditRow, 'hash' | 'keyId'>): { hash: string; keyId: string } => {
    const withKey = { ...draft, keyId: key.id };
    return { hash: chainHash(key, withKey), keyId: key.id };
  };
  return Object.assign(seal, { portable: { module: import.meta.url, key: { id: key.id, key: key.key } } });
}
