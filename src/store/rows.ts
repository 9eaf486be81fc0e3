import type { AgentRecord } from '../model/agent.js';
import type { AuditCheckpoint, AuditRow, AuditSigningKeyRecord } from '../model/audit.js';
import type { CredentialRecord } from '../model/credential.js';
import type { KeyRecord } from '../model/key.js';
import type { SecretVersionRecord } from '../model/secret.js';

/**
 * Table rows as both engines return them — better-sqlite3 (INTEGER a number, BLOB a Buffer) and
 * node-postgres (BIGINT read as a number, see postgres/connect.ts; BYTEA a Buffer) — and their
 * mapping to the domain records, written once so the two stores cannot drift. The schemas keep
 * the same column names on purpose. On PostgreSQL, text keys are ordered `COLLATE "C"` (byte
 * order) wherever order shows: SQLite's order, the same on every replica whatever the locale.
 */
export interface AgentRow {
  id: string;
  name: string;
  token_hash: string;
  grants: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  /** SQLite INTEGER 0/1, PostgreSQL BOOLEAN. */
  require_dpop: number | boolean;
}

export interface CredentialRow {
  jti: string;
  agent: string;
  backend: string;
  scopes: string;
  kid: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  metadata: string | null;
  downstream: string | null;
  revocation_handle: Buffer | null;
  downstream_revoked_at: number | null;
}

export interface KeyRow {
  kid: string;
  state: KeyRecord['state'];
  public_x: string;
  sealed_private: Buffer;
  kek_id: string;
  created_at: number;
  published_at: number;
  activated_at: number | null;
  retired_at: number | null;
  revoked_at: number | null;
}

export interface AuditDbRow {
  seq: number;
  time: number;
  type: AuditRow['type'];
  outcome: AuditRow['outcome'];
  actor: string;
  agent: string | null;
  backend: string | null;
  scopes: string | null;
  jti: string | null;
  kid: string | null;
  reason: string | null;
  client_ip: string | null;
  request_id: string | null;
  details: string | null;
  prev_hash: string;
  hash: string;
  key_id: string;
}

export interface CheckpointDbRow {
  seq: number;
  hash: string;
  time: number;
  key_id: string;
  signature: string;
}

export interface SigningKeyDbRow {
  kid: string;
  public_x: string;
  sealed_private: Buffer;
  kek_id: string;
  created_at: number;
}

export const toCheckpoint = (r: CheckpointDbRow): AuditCheckpoint => ({
  seq: r.seq,
  hash: r.hash,
  time: r.time,
  keyId: r.key_id,
  signature: r.signature,
});

export const toSigningKey = (r: SigningKeyDbRow): AuditSigningKeyRecord => ({
  kid: r.kid,
  publicX: r.public_x,
  sealedPrivate: r.sealed_private,
  kekId: r.kek_id,
  createdAt: r.created_at,
});

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

export const toAgent = (row: AgentRow): AgentRecord => ({
  id: row.id,
  name: row.name,
  tokenHash: row.token_hash,
  grants: JSON.parse(row.grants) as AgentRecord['grants'],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  ...(row.require_dpop ? { requireDpop: true } : {}),
});

export const toCredential = (row: CredentialRow): CredentialRecord => ({
  jti: row.jti,
  agent: row.agent,
  backend: row.backend,
  scopes: JSON.parse(row.scopes) as string[],
  kid: row.kid,
  issuedAt: row.issued_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  metadata: json<Record<string, string>>(row.metadata),
  downstream: json<NonNullable<CredentialRecord['downstream']>>(row.downstream),
  revocationHandle: row.revocation_handle,
  downstreamRevokedAt: row.downstream_revoked_at,
});

export const toKey = (row: KeyRow): KeyRecord => ({
  kid: row.kid,
  state: row.state,
  publicX: row.public_x,
  sealedPrivate: row.sealed_private,
  kekId: row.kek_id,
  createdAt: row.created_at,
  publishedAt: row.published_at,
  activatedAt: row.activated_at,
  retiredAt: row.retired_at,
  revokedAt: row.revoked_at,
});

export const toAuditRow = (r: AuditDbRow): AuditRow => ({
  seq: r.seq,
  time: r.time,
  type: r.type,
  outcome: r.outcome,
  actor: r.actor,
  agent: r.agent,
  backend: r.backend,
  scopes: json<string[]>(r.scopes),
  jti: r.jti,
  kid: r.kid,
  reason: r.reason,
  clientIp: r.client_ip,
  requestId: r.request_id,
  details: json<Record<string, unknown>>(r.details),
  prevHash: r.prev_hash,
  hash: r.hash,
  keyId: r.key_id,
});

/** Column values of a credential, in CREDENTIAL_COLUMNS order. */
export const credentialValues = (c: CredentialRecord): unknown[] => [
  c.jti,
  c.agent,
  c.backend,
  JSON.stringify(c.scopes),
  c.kid,
  c.issuedAt,
  c.expiresAt,
  c.revokedAt,
  c.metadata === null ? null : JSON.stringify(c.metadata),
  c.downstream === null ? null : JSON.stringify(c.downstream),
  c.revocationHandle === null ? null : Buffer.from(c.revocationHandle),
  c.downstreamRevokedAt,
];
export const CREDENTIAL_COLUMNS = [
  'jti',
  'agent',
  'backend',
  'scopes',
  'kid',
  'issued_at',
  'expires_at',
  'revoked_at',
  'metadata',
  'downstream',
  'revocation_handle',
  'downstream_revoked_at',
] as const;

/** Column values of an audit row, in AUDIT_COLUMNS order. */
export const auditValues = (row: AuditRow): unknown[] => [
  row.seq,
  row.time,
  row.type,
  row.outcome,
  row.actor,
  row.agent,
  row.backend,
  row.scopes === null ? null : JSON.stringify(row.scopes),
  row.jti,
  row.kid,
  row.reason,
  row.clientIp,
  row.requestId,
  row.details === null ? null : JSON.stringify(row.details),
  row.prevHash,
  row.hash,
  row.keyId,
];
export const AUDIT_COLUMNS = [
  'seq',
  'time',
  'type',
  'outcome',
  'actor',
  'agent',
  'backend',
  'scopes',
  'jti',
  'kid',
  'reason',
  'client_ip',
  'request_id',
  'details',
  'prev_hash',
  'hash',
  'key_id',
] as const;

/** `INSERT INTO table (cols) VALUES ($1, …), (…)` for `rows` rows of `columns`. */
export function insertMany(table: string, columns: readonly string[], rows: readonly unknown[][]): { text: string; values: unknown[] } {
  const width = columns.length;
  const tuples = rows.map((_, r) => `(${columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
  return { text: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values: rows.flat() };
}

export interface SecretRow {
  id: string;
  path: string;
  version: number;
  sealed: Buffer | null;
  kek_id: string | null;
  created_at: number;
  created_by: string;
  /** 0/1 on SQLite; PostgreSQL stores the same (see postgres/schema-v5.ts). */
  generated: number;
  superseded_at: number | null;
  readable_until: number | null;
  deleted_at: number | null;
}

export const toSecretVersion = (row: SecretRow): SecretVersionRecord => ({
  id: row.id,
  path: row.path,
  version: row.version,
  sealed: row.sealed,
  kekId: row.kek_id,
  createdAt: row.created_at,
  createdBy: row.created_by,
  generated: row.generated === 1,
  supersededAt: row.superseded_at,
  readableUntil: row.readable_until,
  deletedAt: row.deleted_at,
});

/** True when an audit.pruned row's details (JSON text) name `seq` as where it left the log starting. */
export function namesAnchor(details: string | null, seq: number): boolean {
  if (details === null) return false;
  try {
    return (JSON.parse(details) as { anchor_seq?: unknown }).anchor_seq === seq;
  } catch {
    return false;
  }
}
