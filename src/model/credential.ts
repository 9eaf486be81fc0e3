/** How a downstream credential can be ended before its own expiry. */
export type DownstreamRevocation = 'immediate' | 'expiry-only' | 'none';

/** Non-secret summary of a downstream credential, kept with the issued credential. */
export interface DownstreamSummary {
  readonly type: string;
  readonly revocation: DownstreamRevocation;
  readonly expiresAt: string | null;
  /** SHA-256 fingerprint of the downstream secret, never the secret. */
  readonly fingerprint: string | null;
}

/** One issued credential: the JWT's claims that matter later, and its downstream part. Times are epoch seconds. */
export interface CredentialRecord {
  readonly jti: string;
  readonly agent: string;
  readonly backend: string;
  readonly scopes: readonly string[];
  readonly kid: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly downstream: DownstreamSummary | null;
  /** Sealed (KEK) data a backend needs to revoke the downstream credential; null if none. */
  readonly revocationHandle: Uint8Array | null;
  /** When the downstream credential was revoked (by request or by the expiry reaper). */
  readonly downstreamRevokedAt: number | null;
}

/** The columns every audit row about one credential repeats: whose it is, for what, signed by which key. */
export function credentialAuditFields(record: CredentialRecord): {
  agent: string;
  backend: string;
  scopes: readonly string[];
  jti: string;
  kid: string;
} {
  return { agent: record.agent, backend: record.backend, scopes: record.scopes, jti: record.jti, kid: record.kid };
}
