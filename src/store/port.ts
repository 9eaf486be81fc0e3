/**
 * The store port: what the broker needs from persistence, as interfaces only. SQLite
 * (better-sqlite3) implements it in sqlite/; PostgreSQL (node-postgres), for replicas sharing one
 * database, in postgres/. test/store/contract.ts holds both to the same behaviour. The records it carries are the domain model (src/model/).
 * Times are epoch seconds unless a field says otherwise. Nothing here holds a plaintext secret:
 * bearer tokens are SHA-256 digests, private keys, revocation handles and secret values are sealed under the KEK
 * before they reach the store.
 */
import type { AgentRecord, Grant } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import type {
  AuditCheckpoint,
  AuditEvent,
  AuditHead,
  AuditKeyUsage,
  AuditOutcome,
  AuditRow,
  AuditSigningKeyRecord,
} from '../model/audit.js';
import type { CredentialRecord } from '../model/credential.js';
import type { KeyRecord, KeyState } from '../model/key.js';
import type { SecretVersionRecord } from '../model/secret.js';

/**
 * Where state lives: the embedded SQLite file (the default), or a PostgreSQL database that
 * several replicas share. `url` may hold a password: show `display` (password masked) instead.
 */
export type StoreConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      /** The URL with any password replaced by `***`, for logs and messages. */
      readonly display: string;
      /** Connections each process keeps open at most (`store_pool`). */
      readonly poolSize: number;
    };

/** What `creddy doctor` learns of a store without changing it (see `inspectStore`). */
export interface StoreStatus {
  /** False when the database does not exist yet (it is created at the first start). */
  readonly exists: boolean;
  /** Its schema version; null when it could not be read. */
  readonly version: number | null;
  /** The schema version this build migrates to. */
  readonly latest: number;
  /** Why it could not be read. */
  readonly error?: string;
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

/** Computes a row's chain hash from its predecessor; supplied by audit/, run inside the store's transaction. */
export type AuditSealer = ((row: Omit<AuditRow, 'hash' | 'keyId'>) => { hash: string; keyId: string }) & {
  /**
   * How a worker thread rebuilds this sealer, since functions cannot cross threads: the URL of
   * the module that exports `createSealer(key)`, and the HMAC key to pass it.
   */
  readonly portable?: PortableSealer;
};

/** A sealer as data: a module exporting `createSealer(key)` and the key (see AuditSealer.portable). */
export interface PortableSealer {
  readonly module: string;
  readonly key: { readonly id: string; readonly key: Uint8Array };
}

/**
 * The audit rows that record a change committed outside the group-commit writer (a key
 * transition, a secret write, a credential revocation), and the sealer that chains them.
 */
export interface KeyAudit {
  readonly events: readonly AuditEvent[];
  readonly seal: AuditSealer;
}

/** What one retention step removed: rows `fromSeq` to `anchorSeq - 1`, `deleted` of them. */
export interface PrunedRange {
  readonly fromSeq: number;
  readonly anchorSeq: number;
  readonly deleted: number;
}

/**
 * The `audit.pruned` row that records a retention step, appended in the step's own transaction
 * (`store.audit.pruneBelow`): `event` is called inside it with what the step removed.
 */
export interface PruneRecord {
  readonly event: (removed: PrunedRange) => AuditEvent;
  readonly seal: AuditSealer;
}

/** An event to append, optionally with the credential row it records (written atomically with it). */
export interface AuditEntry {
  readonly event: AuditEvent;
  readonly credential?: CredentialRecord;
  /** A state change the event records, committed in the same transaction as its row. */
  readonly change?: StateChange;
  /**
   * With `credential`: the agent record it is issued to, as the request was judged by it. The
   * append reads that record (and, for a key-pair issuance, the agent key it authenticated with)
   * inside its transaction, after the audit chain's lock (which every agent change takes too:
   * revocation, token rotation, grants, key removal), and reports the entry in
   * `AppendedRows.holderChanged` if it is no longer that record: an issuance authenticated before
   * a change that commits after it is told so, at no extra round trip (credentials/issue.ts).
   */
  readonly holder?: HolderStamp;
}

/** The agent record an issuance was judged by, as the request authenticated (`AuditEntry.holder`). */
export interface HolderStamp {
  /** The record's id. */
  readonly id: string;
  /** The record's token digest then (never the token): another one at the commit means a rotation. */
  readonly tokenHash: string;
  /** The record's grants then. */
  readonly grants: readonly Grant[];
  /**
   * A key-pair issuance's: the thumbprint of the agent key whose client assertion authenticated
   * the request. That key no longer registered to the agent at the commit means it was removed.
   */
  readonly jkt?: string;
}

/**
 * An entry's holder record as it stood at the commit, when it was no longer the one its request
 * was judged by (`AuditEntry.holder`). The store reports what differs; whether that still allows
 * the credential is policy, decided by the caller.
 */
export interface HolderChange {
  /** Revoked (or gone). */
  readonly revoked: boolean;
  /** Its token digest is another one: the token was rotated. */
  readonly tokenRotated: boolean;
  /** The stamp's agent key (`HolderStamp.jkt`) is no longer registered to it: the key was removed. */
  readonly keyRemoved: boolean;
  /** Its grants at the commit (changed, or only written differently). */
  readonly grants: readonly Grant[];
}

/**
 * What `audit.append` answers: the rows, in entry order. `holderChanged` names the entries (by
 * index) whose `holder` was no longer the record they were judged by when they committed; absent
 * when none was (almost always).
 */
export type AppendedRows = AuditRow[] & { holderChanged?: ReadonlyArray<HolderChange & { readonly entry: number }> };

/**
 * State changes that must never exist without their audit row (nor the row without them). They
 * are idempotent on purpose — applied with guards that skip rather than throw — because one
 * failing entry would abort the whole group-commit batch; callers check preconditions first.
 */
export type StateChange =
  /** Inserts the record; skipped if its name has an unrevoked record already (or its id or token digest exists). */
  | {
      readonly kind: 'agent.create';
      readonly agent: AgentRecord;
      /**
       * A key-pair agent's public keys, inserted with it. When the agent row is inserted, keys
       * left under its name (by an agent that once had it) are dropped first.
       */
      readonly keys?: readonly AgentKeyRecord[];
    }
  /** Sets the three mutable facts of the unrevoked record `id` (a new token, grants, expiry); skipped if it is revoked. Keys and require_dpop stay. */
  | {
      readonly kind: 'agent.update';
      readonly id: string;
      readonly tokenHash: string;
      readonly grants: AgentRecord['grants'];
      readonly expiresAt: number | null;
    }
  /** Registers one more key for an agent; skipped when the thumbprint is registered already. */
  | { readonly kind: 'agent.key.add'; readonly key: AgentKeyRecord }
  /** Drops one of an agent's keys; skipped when it is not there. */
  | { readonly kind: 'agent.key.remove'; readonly agent: string; readonly jkt: string }
  /** Revokes the unrevoked record of `name`, if there is one. */
  | { readonly kind: 'agent.revoke'; readonly name: string; readonly at: number };

/** What commits with a credential's revocation (`store.credentials.revoke`). */
export interface CredentialRevokeOptions {
  /** The rows that record it (`credential.revoked`). */
  readonly audit?: KeyAudit;
  /**
   * The revoking request revokes the downstream part itself right after: no reaper (on any
   * replica) claims the row before this time (epoch s), and after it the reaper retries if the
   * request did not finish. See `claimDueForDownstreamRevocation`.
   */
  readonly leaseUntil?: number;
}

/** The state changes that touch only agent keys. */
export type AgentKeyChange = Extract<StateChange, { kind: 'agent.key.add' | 'agent.key.remove' }>;
/**
 * One write to the secret table, committed with its audit rows (`store.secrets.write`). Each is
 * guarded on what the writer last read, so of two racing writers one wins and the other is told
 * (false) and nothing of its write, nor its audit row, is kept.
 */
export type SecretWrite =
  /** A path's first version, or its first after a delete: the path must have no live version and `record.version` be its latest + 1. */
  | { readonly kind: 'create'; readonly record: SecretVersionRecord }
  /**
   * A new version of a live path whose latest is `record.version - 1`; that previous version is
   * marked superseded at `record.createdAt` and stays readable until `previousReadableUntil`.
   */
  | { readonly kind: 'rotate'; readonly record: SecretVersionRecord; readonly previousReadableUntil: number }
  /** Tombstones a live path whose latest is `version`: every version gets `deletedAt` and its value erased. */
  | { readonly kind: 'delete'; readonly path: string; readonly version: number; readonly at: number }
  /** KEK rewrap: replaces one row's sealed value if it still holds `previous`. */
  | {
      readonly kind: 'reseal';
      readonly id: string;
      readonly previous: Uint8Array;
      readonly sealed: Uint8Array;
      readonly kekId: string;
    };

/** Which paths a read covers: exact paths, and prefixes (a granted `prod/stripe/*` is the prefix `prod/stripe/`). */
export interface SecretSelector {
  readonly paths: readonly string[];
  readonly prefixes: readonly string[];
}

export interface AuditFilter {
  readonly backend?: string;
  readonly agent?: string;
  readonly type?: string;
  readonly jti?: string;
  readonly outcome?: AuditOutcome;
  /** Federated issuances and denials of this federation rule (`details.federation.rule`). */
  readonly rule?: string;
  /** Rows of one CI run (`details.federation.run_id`: GitHub Actions run_id, GitLab pipeline_id). */
  readonly runId?: string;
  /** Milliseconds since the epoch, inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** Only rows with seq greater than this (for --follow). */
  readonly afterSeq?: number;
  readonly limit: number;
  /** `desc` (newest first, the default for reading) or `asc` (for following/export). */
  readonly order?: 'asc' | 'desc';
}

/** The persistence contract every store implements. All methods are async. */
export interface Store {
  /**
   * Agents are created, updated and revoked through `audit.append` (`StateChange`), never without
   * their row. A name may have many records (one per `agent create`), at most one unrevoked.
   */
  readonly agents: {
    byTokenHash(tokenHash: string): Promise<AgentRecord | undefined>;
    /** The unrevoked record of `name`, else its most recently created one. */
    byName(name: string): Promise<AgentRecord | undefined>;
    /** Every record, revoked ones included, by name then creation time. */
    list(): Promise<AgentRecord[]>;
    /**
     * Revokes the unrevoked record `id` and appends `audit.events` in the same transaction (under
     * the audit chain's lock), so a revocation never exists without its `agent.revoked` row nor
     * the row without it. False, with nothing changed and nothing appended, if unknown or already
     * revoked: of racing revocations of one agent (CLIs, replicas), exactly one is true and
     * recorded. Not through the group-commit writer, whose entries cannot be dropped from a batch.
     */
    revoke(id: string, at: number, audit: KeyAudit): Promise<boolean>;
  };
  /**
   * Key-pair agents' Ed25519 public keys. Written only through `audit.append` (`agent.create`
   * with keys, `agent.key.add`, `agent.key.remove`), never without their row. A thumbprint
   * belongs to one agent.
   */
  readonly agentKeys: {
    /** The agent's keys, oldest first (by addedAt, then jkt). */
    byAgent(agent: string): Promise<AgentKeyRecord[]>;
    /** Every registered key, by agent then jkt (audit verify's cross-check, store copy). */
    list(): Promise<AgentKeyRecord[]>;
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
    /**
     * Calls `onChange` soon after any process commits a key transition (Postgres: LISTEN/NOTIFY),
     * so replicas serve a rotation at once rather than at their next poll. Returns the
     * unsubscribe function. Absent where the store cannot notify (SQLite): callers poll.
     */
    watch?(onChange: () => void): () => Promise<void>;
  };
  readonly credentials: {
    get(jti: string): Promise<CredentialRecord | undefined>;
    listActive(agent: string, now: number): Promise<CredentialRecord[]>;
    /**
     * Marks revoked and appends `options.audit.events` in the same transaction (under the audit
     * chain's lock), so a revocation never exists without its row nor the row without it. False,
     * with nothing changed and nothing appended, if unknown or already revoked: of racing
     * revocations of one credential (requests, replicas, `agent revoke`), exactly one is true and
     * recorded. Not through the group-commit writer, whose entries cannot be dropped from a batch.
     */
    revoke(jti: string, at: number, options?: CredentialRevokeOptions): Promise<boolean>;
    /**
     * Claims up to `limit` credentials whose downstream part is due for revocation (expired or
     * revoked, handle still held) and that no one holds a lease on, leasing them until
     * `leaseUntil` (epoch s). Concurrent callers (replicas) never get the same row while its lease
     * runs; a caller that dies before `markDownstreamRevoked` loses the lease and the row comes
     * back. Ordered by expiry.
     */
    claimDueForDownstreamRevocation(now: number, limit: number, leaseUntil: number): Promise<CredentialRecord[]>;
    markDownstreamRevoked(jti: string, at: number): Promise<void>;
    /** Credentials still holding a revocation handle, by jti after `afterJti` (for KEK rewrap). */
    withRevocationHandles(afterJti: string, limit: number): Promise<CredentialRecord[]>;
    /** Swaps a sealed handle if it is still `previous` (the reaper may have cleared it meanwhile). */
    replaceRevocationHandle(jti: string, previous: Uint8Array, next: Uint8Array): Promise<boolean>;
  };
  readonly audit: {
    /**
     * Appends entries in one durable transaction, chaining each row with `seal`; reports entries
     * whose `holder` record changed by then (`AppendedRows.holderChanged`).
     */
    append(entries: readonly AuditEntry[], seal: AuditSealer): Promise<AppendedRows>;
    query(filter: AuditFilter): Promise<AuditRow[]>;
    /** The last row's seq and hash; undefined for an empty log. */
    head(): Promise<AuditHead | undefined>;
    /**
     * Per audit HMAC key id: the first and last seq it sealed and how many rows, by first seq
     * (`doctor`: which keys the log still needs). Reads the whole table.
     */
    keyUsage(): Promise<AuditKeyUsage[]>;
    /**
     * If rows exist past the last checkpoint, signs the head with `sign` and stores it, unless a
     * checkpoint at or past that row exists by then (another process got there first). The stored
     * checkpoint always names a real row with its real hash; it need not be the very last row
     * (SQLite servers sign without the write lock and store on the audit worker).
     */
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
    /**
     * Deletes rows and checkpoints below `anchorSeq`, a checkpointed row, through the retention
     * gate, and appends the row `record` makes of what was removed, in one transaction (under the
     * audit chain's lock): the log never lacks the record of a committed step, so it verifies after
     * every one. Returns rows deleted; 0, with nothing appended, when no row below `anchorSeq` is
     * left (another process pruned past it). PostgreSQL also refuses (ERR_CONFIG_INVALID, nothing
     * deleted) while any of those rows is younger than the database's retention floor, or when it
     * has none. ERR_AUDIT_UNAVAILABLE, with nothing deleted, when the record cannot be appended.
     */
    pruneBelow(anchorSeq: number, record: PruneRecord): Promise<number>;
    /**
     * Appends `record`'s row — the audit.pruned row of a start no prune recorded (retention's
     * repair) — under the audit chain's lock, only while the log still starts at `startSeq` and no
     * audit.pruned row names `startSeq` as its `anchor_seq`: the repair is decided on reads made
     * outside the lock, and a pruner or writer that recorded that start, or pruned past it,
     * meanwhile must not be contradicted. True when appended; ERR_AUDIT_UNAVAILABLE when the row
     * could not be.
     */
    recordPrunedStart(startSeq: number, record: { readonly event: AuditEvent; readonly seal: AuditSealer }): Promise<boolean>;
  };
  /** Versions of stored secrets (`type: secret` backends); values sealed under the KEK. */
  readonly secrets: {
    /**
     * Applies one write and appends `audit.events` in one transaction. False, with nothing
     * changed and nothing appended, when its guard failed (another writer got there first).
     */
    write(write: SecretWrite, audit: KeyAudit): Promise<boolean>;
    /** The latest version of every path starting with `prefix` (deleted paths included), by path. */
    latest(prefix: string): Promise<SecretVersionRecord[]>;
    /** Every version of one path, oldest first. */
    versions(path: string): Promise<SecretVersionRecord[]>;
    /**
     * The versions that can be read at `now` of the paths `selector` covers: each live path's
     * current version, and a previous version still within its `readableUntil`. By path, newest first.
     */
    readable(selector: SecretSelector, now: number): Promise<SecretVersionRecord[]>;
    /** Rows still holding a sealed value, by id after `afterId` (for KEK rewrap). */
    sealedAfter(afterId: string, limit: number): Promise<SecretVersionRecord[]>;
    /** Erases the values of versions whose `readableUntil` is past; returns how many. */
    erase(now: number): Promise<number>;
  };
  /** One-time use of federated ID tokens, shared by every replica on this store. */
  /**
   * One-time use of federated ID tokens, key-pair agents' client assertions and DPoP proofs,
   * shared by every replica on this store (keys are digests prefixed by their purpose).
   */
  readonly replay: {
    /**
     * Records `key` (an opaque digest of issuer + jti) until `expiresAt` (epoch seconds). True if
     * this call recorded it, false if it was already there: concurrent claims of one key, from
     * any process or replica, see exactly one true. Rows whose expiresAt is long past (an hour,
     * by the store's own clock, so replica clock skew cannot reopen a key) may be purged.
     */
    claim(key: string, expiresAt: number): Promise<boolean>;
  };
  /** Cheap liveness probe of the database, for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
