import type { Clock } from '../_utils/clock.js';
import type { ConfigReader } from '../_utils/config-reader.js';
import type { Logger } from '../_utils/logger.js';
import type { UpstreamStatus } from '../metrics/port.js';
import type { TtlBound } from '../policy/ttl.js';
import type { DownstreamCredential } from '../wire.js';
import type { SecretSource } from './secret/source.js';

/** Settings every backend has, whatever its type. TTLs are in seconds. */
export interface BackendCommon {
  readonly name: string;
  readonly type: BackendTypeName;
  readonly description: string | undefined;
  readonly defaultTtl: number;
  readonly maxTtl: number;
  /** The backend's scope ceiling; an agent's grants are intersected with it. */
  readonly allowedScopes: readonly string[];
  /** Granted when a request names no scopes. */
  readonly defaultScopes: readonly string[];
  /** Issue only DPoP-bound credentials (RFC 9449 `cnf.jkt`): a request without a valid proof is refused. */
  readonly requireDpop: boolean;
}

/** One issuance as the broker decided it: scopes and TTL are final, within the ceiling. */
export interface MintRequest {
  readonly jti: string;
  readonly agent: string;
  readonly scopes: readonly string[];
  readonly ttlSeconds: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Backend-specific request fields already shape-checked at the edge (e.g. `repositories`). */
  readonly params: Readonly<Record<string, unknown>>;
  /**
   * Aborts when issuance stops waiting for the mint (`MINT_DEADLINE_MS`, credentials/issue.ts):
   * issuance does not race it, so a backend must end its work then, whatever its own timeouts.
   */
  readonly signal: AbortSignal;
}

/** What a backend hands back after minting. */
export interface Minted {
  readonly credential: DownstreamCredential;
  /** The downstream secret, so the audit log can store its fingerprint (never the secret). */
  readonly secret?: string;
  /** Opaque data needed to revoke later; the broker stores it encrypted under the KEK. */
  readonly revocationHandle?: string;
  /** Non-secret facts for the `credential.issued` row (which secret versions were read, which role was made). */
  readonly auditDetails?: Readonly<Record<string, unknown>>;
}

/** A configured, ready backend. Created once at startup; SDKs load lazily on first mint. */
export interface Backend {
  readonly common: BackendCommon;
  /** `aud` of the tokens issued for this backend. */
  readonly audience: string;
  readonly ttlLimits: { readonly min?: TtlBound; readonly max?: TtlBound };
  /** Request fields beyond the common ones that this backend accepts (e.g. `repositories`). */
  readonly requestParams: readonly string[];
  /** Backend-specific scope check after the common grammar; returns a problem or undefined. */
  checkScope(scope: string): string | undefined;
  /** Makes the downstream credential, or returns undefined when the JWT is the credential. */
  mint(request: MintRequest): Promise<Minted | undefined>;
  /** Revokes a downstream credential made by `mint`, given its revocation handle. */
  revoke(handle: string): Promise<void>;
  /**
   * True when the downstream credential does not end by itself at its `expires_at` (a database
   * role: VALID UNTIL stops new logins, not open sessions), so the reaper revokes it after expiry
   * too; otherwise an expired downstream credential is only marked done.
   */
  readonly revokeAfterExpiry?: boolean;
  /**
   * Housekeeping the reaper runs at start and then every minute or so: removes downstream
   * leftovers no credential row points at (a role made just before a crash) and values past
   * their grace. Idempotent and safe on every replica at once; resolves with how many it removed.
   */
  sweep?(now: number): Promise<number>;
  /** Checks the backend's own credentials and rights downstream (for `creddy doctor`); problems, or none. */
  check?(): Promise<string[]>;
  /** Releases connections the backend holds (database pools); called when services close. */
  close?(): Promise<void>;
  /**
   * Checks the backend can work, without minting anything (`creddy doctor`): its credentials are
   * accepted and the service answers. Absent when there is nothing downstream to ask.
   */
  probe?(signal: AbortSignal): Promise<ProbeResult>;
}

/** What a backend's self-check found. */
export interface ProbeResult {
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  /** What the operator should change, for a warn or a fail. */
  readonly fix?: string;
  /** The service's clock (its `Date` header, epoch ms), to measure this machine's skew against. */
  readonly serverTime?: number;
}

/** What backends may use; passed in, never imported. */
export interface BackendDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Stored secret values, for `type: secret` backends (the composition root always passes it). */
  readonly secrets?: SecretSource;
  /** Told of each call to the downstream service (a metric; the composition root binds it to the backend's name). */
  readonly upstream?: (status: UpstreamStatus) => void;
}

/** A backend type: reads its own config keys, then builds the backend. */
export interface BackendType<Settings> {
  /** Reads the type-specific keys; unknown keys are rejected by the caller afterwards. */
  parse(reader: ConfigReader, name: string): Settings;
  create(settings: Settings, common: BackendCommon, deps: BackendDeps): Backend;
  /**
   * The `aud` of the backend's tokens, for a type whose config can set it (`generic`); absent,
   * it is the backend's name. Config load reads it to refuse two backends with one audience, so
   * `create` must give the backend this same value.
   */
  audience?(settings: Settings, name: string): string;
  /**
   * What `creddy doctor` says instead of probing, for a type whose credentials come from creddy's
   * own store (which doctor checks on its own) and that needs the store to be created at all.
   */
  readonly servedFromStore?: string;
}

/** The backend types creddy knows; the registry is the single source of this list. */
export type BackendTypeName = 'generic' | 'github' | 'aws' | 'secret' | 'postgres';

/** A backend's parsed config: the common part plus its type's own settings. */
export interface BackendConfig {
  readonly common: BackendCommon;
  readonly settings: unknown;
}
