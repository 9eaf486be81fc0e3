import { CreddyError } from '../errors.js';
import type { AuditCheckpoint, AuditRow } from '../model/audit.js';

/**
 * Lossless JSON of a row for export bundles: every column under its database name, time in epoch
 * milliseconds, so a verifier holding the audit key can recompute the HMAC from the line alone.
 */
export function rowToJson(row: AuditRow): Record<string, unknown> {
  return {
    seq: row.seq,
    time: row.time,
    type: row.type,
    outcome: row.outcome,
    actor: row.actor,
    agent: row.agent,
    backend: row.backend,
    scopes: row.scopes,
    jti: row.jti,
    kid: row.kid,
    reason: row.reason,
    client_ip: row.clientIp,
    request_id: row.requestId,
    details: row.details,
    prev_hash: row.prevHash,
    hash: row.hash,
    key_id: row.keyId,
  };
}

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string') throw new CreddyError('ERR_AUDIT_INVALID', `${field} must be a string`);
  return v;
};
const strOrNull = (v: unknown, field: string): string | null => (v === null ? null : str(v, field));
const int = (v: unknown, field: string): number => {
  if (!Number.isSafeInteger(v)) throw new CreddyError('ERR_AUDIT_INVALID', `${field} must be an integer`);
  return v as number;
};

export function rowFromJson(o: Record<string, unknown>): AuditRow {
  const scopes = o['scopes'];
  if (scopes !== null && !(Array.isArray(scopes) && scopes.every((s) => typeof s === 'string')))
    throw new CreddyError('ERR_AUDIT_INVALID', 'scopes must be a list of strings or null');
  const details = o['details'];
  if (details !== null && (typeof details !== 'object' || Array.isArray(details)))
    throw new CreddyError('ERR_AUDIT_INVALID', 'details must be an object or null');
  return {
    seq: int(o['seq'], 'seq'),
    time: int(o['time'], 'time'),
    type: str(o['type'], 'type') as AuditRow['type'],
    outcome: str(o['outcome'], 'outcome') as AuditRow['outcome'],
    actor: str(o['actor'], 'actor'),
    agent: strOrNull(o['agent'], 'agent'),
    backend: strOrNull(o['backend'], 'backend'),
    scopes: scopes as string[] | null,
    jti: strOrNull(o['jti'], 'jti'),
    kid: strOrNull(o['kid'], 'kid'),
    reason: strOrNull(o['reason'], 'reason'),
    clientIp: strOrNull(o['client_ip'], 'client_ip'),
    requestId: strOrNull(o['request_id'], 'request_id'),
    details: details as Record<string, unknown> | null,
    prevHash: str(o['prev_hash'], 'prev_hash'),
    hash: str(o['hash'], 'hash'),
    keyId: str(o['key_id'], 'key_id'),
  };
}

export function checkpointToJson(c: AuditCheckpoint): Record<string, unknown> {
  return { seq: c.seq, hash: c.hash, time: c.time, key_id: c.keyId, signature: c.signature };
}

export function checkpointFromJson(o: Record<string, unknown>): AuditCheckpoint {
  return {
    seq: int(o['seq'], 'seq'),
    hash: str(o['hash'], 'hash'),
    time: int(o['time'], 'time'),
    keyId: str(o['key_id'], 'key_id'),
    signature: str(o['signature'], 'signature'),
  };
}
