/** Every kind of audit row (a list, so `audit list --type` can refuse a typo). */
export const AUDIT_TYPES = [
  'credential.issued',
  'credential.denied',
  'credential.revoked',
  'downstream.revoked',
  'agent.created',
  'agent.updated',
  'agent.revoked',
  'agent.key_added',
  'agent.key_removed',
  'key.created',
  'key.activated',
  'key.retired',
  'key.revoked',
  'key.rewrapped',
  'secret.created',
  'secret.rotated',
  'secret.deleted',
  'secret.rewrapped',
  'auth.failed',
  'auth.throttled',
  'audit.pruned',
] as const;

/** Every kind of audit row. */
export type AuditType = (typeof AUDIT_TYPES)[number];

export type AuditOutcome = 'success' | 'denied' | 'error';

/** An audit event before the store numbers and chains it. No field ever holds a secret. */
export interface AuditEvent {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly type: AuditType;
  readonly outcome: AuditOutcome;
  /** Who acted: an agent name, `cli`, `schedule`, or `server`. */
  readonly actor: string;
  readonly agent: string | null;
  readonly backend: string | null;
  readonly scopes: readonly string[] | null;
  readonly jti: string | null;
  readonly kid: string | null;
  /** Error code for denials and errors (`ERR_SCOPE_DENIED`). */
  readonly reason: string | null;
  readonly clientIp: string | null;
  readonly requestId: string | null;
  /** Small non-secret extras: ttl decision, fingerprints of downstream secrets, kids. */
  readonly details: Readonly<Record<string, unknown>> | null;
}

/** A stored audit row: the event plus its place in the hash chain. */
export interface AuditRow extends AuditEvent {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  /** Id of the audit HMAC key that produced `hash`. */
  readonly keyId: string;
}

/** The `prevHash` of the first row: the chain starts from 64 zero hex digits. */
export const GENESIS_HASH = '0'.repeat(64);

/** The head of the chain a checkpoint vouches for. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** Which rows one audit HMAC key sealed: what `audit verify` and `doctor` name when it is not configured. */
export interface AuditKeyUsage {
  readonly keyId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly rows: number;
}

/** An Ed25519-signed statement "row `seq` has chain hash `hash`", made at `time` (epoch ms). */
export interface AuditCheckpoint extends AuditHead {
  readonly time: number;
  /** kid (RFC 7638 thumbprint) of the audit signing key. */
  readonly keyId: string;
  /** Ed25519 signature, base64url, over audit/checkpoint's signing input. */
  readonly signature: string;
}

/** The audit signing key: public x plus the private key sealed under the KEK (AAD bound to kid). */
export interface AuditSigningKeyRecord {
  readonly kid: string;
  readonly publicX: string;
  readonly sealedPrivate: Uint8Array;
  readonly kekId: string;
  readonly createdAt: number;
}

/**
 * Builds an event from what the caller knows; every other column is null. Written out field by
 * field (not `{...defaults, ...fields}`) so every event has one shape: one per request is made
 * on the issue path.
 */
export function auditEvent(fields: Pick<AuditEvent, 'time' | 'type' | 'outcome' | 'actor'> & Partial<AuditEvent>): AuditEvent {
  return {
    time: fields.time,
    type: fields.type,
    outcome: fields.outcome,
    actor: fields.actor,
    agent: fields.agent ?? null,
    backend: fields.backend ?? null,
    scopes: fields.scopes ?? null,
    jti: fields.jti ?? null,
    kid: fields.kid ?? null,
    reason: fields.reason ?? null,
    clientIp: fields.clientIp ?? null,
    requestId: fields.requestId ?? null,
    details: fields.details ?? null,
  };
}
