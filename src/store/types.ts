/**
 * The async Store contract. SQLite (better-sqlite3) implements it today; a Postgres store for
 * multi-replica deployments implements the same interface. Times are epoch seconds unless a
 * field says otherwise. Nothing here holds a plaintext secret: bearer tokens are SHA-256 digests,
 * private keys and revocation handles are sealed under the KEK before they reach the store.
 */

/** One permission an agent holds: a scope pattern on one backend. */
export interface Grant {
  readonly backend: string;
  readonly scope: string;
}

export interface AgentRecord {
  readonly name: string;
  /** Hex SHA-256 of the bearer token; the token itself is shown once and never stored. */
  readonly tokenHash: string;
  readonly grants: readonly Grant[];
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

/** Signing-key states (ARCHITECTURE §3 "Key lifecycle"). */
export type KeyState = 'next' | 'current' | 'retired' | 'revoked';

export interface KeyRecord {
  /** RFC 7638 thumbprint of the public JWK. */
  readonly kid: string;
  readonly state: KeyState;
  /** Public Ed25519 key, base64url (the JWK `x`). */
  readonly publicX: string;
  /** Private key (PKCS#8 DER) sealed by keys/kek (AES-256-GCM, AAD = kid). */
  readonly sealedPrivate: Uint8Array;
  /** Which KEK sealed it, so a rewrap knows what is left to do. */
  readonly kekId: string;
  readonly createdAt: number;
  /** When it first appeared in the JWKS. */
  readonly publishedAt: number;
  readonly activatedAt: number | null;
  readonly retiredAt: number | null;
  readonly revokedAt: number | null;
}

/** One step of an atomic key transition; `apply` fails whole if any precondition fails. */
export type KeyOp =
  | { readonly op: 'insert'; readonly key: KeyRecord }
  | {
      readonly op: 'update';
      readonly kid: string;
      /** The state the row must still be in; guards against a concurrent rotation. */
      readonly expect: KeyState;
      readonly set: Partial<Pick<KeyRecord, 'state' | 'activatedAt' | 'retiredAt' | 'revokedAt' | 'sealedPrivate' | 'kekId'>>;
    };

/** Non-secret summary of a downstream credential, kept with the issued credential. */
export interface DownstreamSummary {
  readonly type: string;
  readonly revocation: 'immediate' | 'expiry-only' | 'none';
  readonly expiresAt: string | null;
  readonly fingerprint: string | null;
}

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

export type AuditType =
  | 'credential.issued'
  | 'credential.denied'
  | 'credential.revoked'
  | 'downstream.revoked'
  | 'agent.created'
  | 'agent.revoked'
  | 'key.created'
  | 'key.activated'
  | 'key.retired'
  | 'key.revoked'
  | 'key.rewrapped'
  | 'auth.failed'
  | 'auth.throttled'
  | 'audit.pruned';

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

/** Computes a row's chain hash from its predecessor; supplied by audit/, run inside the store's transaction. */
export type AuditSealer = ((row: Omit<AuditRow, 'hash' | 'keyId'>) => { hash: string; keyId: string }) & {
  /** The HMAC key behind the sealer, so a store may seal on a worker thread (functions cannot cross threads). */
  readonly hmacKey?: { readonly id: string; readonly key: Uint8Array };
};

/** The audit rows that record a key transition, and the sealer that chains them. */
export interface KeyAudit {
  readonly events: readonly AuditEvent[];
  readonly seal: AuditSealer;
}

/** An event to append, optionally with the credential row it records (written atomically with it). */
export interface AuditEntry {
  readonly event: AuditEvent;
  readonly credential?: CredentialRecord;
  /** A state change the event records, committed in the same transaction as its row. */
  readonly change?: StateChange;
}

/**
 * State changes that must never exist without their audit row (nor the row without them). They
 * are idempotent on purpose — applied with guards that skip rather than throw — because one
 * failing entry would abort the whole group-commit batch; callers check preconditions first.
 */
export type StateChange =
  | { readonly kind: 'agent.create'; readonly agent: AgentRecord }
  | { readonly kind: 'agent.revoke'; readonly name: string; readonly at: number }
  | { readonly kind: 'credential.revoke'; readonly jti: string; readonly at: number };

export interface AuditFilter {
  readonly backend?: string;
  readonly agent?: string;
  readonly type?: string;
  readonly jti?: string;
  readonly outcome?: AuditOutcome;
  /** Milliseconds since the epoch, inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** Only rows with seq greater than this (for --follow). */
  readonly afterSeq?: number;
  readonly limit: number;
  /** `desc` (newest first, the default for reading) or `asc` (for following/export). */
  readonly order?: 'asc' | 'desc';
}

/** The head of the chain a checkpoint vouches for. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
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

/** The persistence contract every store implements. All methods are async. */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Agents are created and revoked through `audit.append` (`StateChange`), never without their row. */
  readonly agents: {
    byTokenHash(tokenHash: string): Promise<AgentRecord | undefined>;
    byName(name: string): Promise<AgentRecord | undefined>;
    list(): Promise<AgentRecord[]>;
  };
  readonly keys: {
    list(): Promise<KeyRecord[]>;
    /**
     * Applies every op and appends `audit.events` to the chain in one transaction, so a key
     * transition never exists without its audit rows (nor the rows without it). False, with
     * nothing changed and nothing appended, if a guard failed or a state invariant would break.
     */
    apply(ops: readonly KeyOp[], audit: KeyAudit): Promise<boolean>;
    /** Tokens signed and the latest exp for each of `kids`, from the credential table. */
    usage(kids: readonly string[]): Promise<Map<string, { count: number; lastExp: number }>>;
  };
  readonly credentials: {
    get(jti: string): Promise<CredentialRecord | undefined>;
    listActive(agent: string, now: number): Promise<CredentialRecord[]>;
    /** Marks revoked; false if unknown or already revoked. */
    revoke(jti: string, at: number): Promise<boolean>;
    isRevoked(jti: string): Promise<boolean>;
    /** Credentials with a revocation handle whose downstream part is due for revocation. */
    dueForDownstreamRevocation(now: number, limit: number): Promise<CredentialRecord[]>;
    markDownstreamRevoked(jti: string, at: number): Promise<void>;
    /** Credentials still holding a revocation handle, by jti after `afterJti` (for KEK rewrap). */
    withRevocationHandles(afterJti: string, limit: number): Promise<CredentialRecord[]>;
    /** Swaps a sealed handle if it is still `previous` (the reaper may have cleared it meanwhile). */
    replaceRevocationHandle(jti: string, previous: Uint8Array, next: Uint8Array): Promise<boolean>;
  };
  readonly audit: {
    /** Appends entries in one durable transaction, chaining each row with `seal`. */
    append(entries: readonly AuditEntry[], seal: AuditSealer): Promise<AuditRow[]>;
    query(filter: AuditFilter): Promise<AuditRow[]>;
    /** The last row's seq and hash; undefined for an empty log. */
    head(): Promise<AuditHead | undefined>;
    /** Under the write lock: if rows exist past the last checkpoint, signs the head with `sign` and stores it. */
    checkpoint(sign: (head: AuditHead) => AuditCheckpoint): Promise<AuditCheckpoint | undefined>;
    /** Checkpoints with fromSeq <= seq <= toSeq, ascending. */
    checkpoints(range?: { fromSeq?: number; toSeq?: number }): Promise<AuditCheckpoint[]>;
    /** Returns the audit signing key, inserting `create()` under the write lock if there is none. */
    ensureSigningKey(create: () => AuditSigningKeyRecord): Promise<AuditSigningKeyRecord>;
    signingKeys(): Promise<AuditSigningKeyRecord[]>;
    /** KEK rewrap: replaces the sealed private key of `kid` (the only change its trigger allows). */
    resealSigningKey(kid: string, sealedPrivate: Uint8Array, kekId: string): Promise<void>;
    /** Seq of the first row whose time is >= `timeMs` (retention cut); undefined if none. */
    firstSeqFrom(timeMs: number): Promise<number | undefined>;
    /** Deletes rows and checkpoints below `anchorSeq`, a checkpointed row, through the retention gate. Returns rows deleted. */
    pruneBelow(anchorSeq: number): Promise<number>;
    /** Benchmarks only (CREDDY_AUDIT_SYNC=off): turns off fsync so the cost of durability can be measured. */
    setDurable(durable: boolean): void;
  };
  /** Cheap liveness probe of the database, for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
