import type { LogLevel } from '../_utils/logger.js';
import type { BackendConfig } from '../backends/types.js';
import type { StoreConfig } from '../store/port.js';

/** Signing-key schedule, in seconds (ARCHITECTURE §3 "Key lifecycle"). */
export interface KeysConfig {
  readonly rotationPeriod: number;
  readonly publishAhead: number;
  readonly jwksMaxAge: number;
  readonly clockSkew: number;
}

/** Audit log settings, in seconds. */
export interface AuditConfig {
  /** How long a request may wait for its audit row before failing closed with 503. */
  readonly writeTimeout: number;
  /** A signed checkpoint after this many rows… */
  readonly checkpointEvery: number;
  /** …or after this many seconds, whichever comes first (and on shutdown). */
  readonly checkpointInterval: number;
  /** Rows older than this are pruned (down to a signed checkpoint); null keeps everything. */
  readonly retention: number | null;
  /** Where signed checkpoints are also sent, so a cut or rolled-back log is detectable. */
  readonly witness: WitnessConfig;
}

/** `audit.witness`: an append-only file (best on another volume) and/or an HTTP endpoint. */
export interface WitnessConfig {
  readonly file: string | null;
  readonly url: string | null;
}

/** Failed-authentication limits per client address, in seconds (see broker/throttle.ts). */
/** `http`: limits on the listening server, in seconds (see http/limits.ts). */
export interface HttpLimitsConfig {
  /** A client must send its request headers within this. */
  readonly headerTimeout: number;
  /** …and the whole request (headers and body) within this, or it gets 408 and is closed. */
  readonly requestTimeout: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeout: number;
  readonly maxConnections: number;
  /** Open connections one client address (IPv6: one /64) may hold. */
  readonly maxConnectionsPerAddress: number;
}

export interface AuthThrottleConfig {
  /** Failures one address may have within `window` before it is throttled. */
  readonly maxFailures: number;
  readonly window: number;
  /** How long a throttled address's failures are refused with 429 and not audited one by one. */
  readonly block: number;
  /** Failures audited one by one per `window` across all addresses; beyond it, counted only. */
  readonly maxAuditedPerWindow: number;
}

/** One claim condition of a federation rule: the claim (a `/` path reaches into objects) must match one of `patterns`. */
export interface ClaimCondition {
  /** The claim as written in config, e.g. `repository` or `kubernetes.io/namespace`. */
  readonly claim: string;
  /** Exact values or segment globs (policy/claim-pattern.ts); any one matching satisfies the condition. */
  readonly patterns: readonly string[];
}

/**
 * A federation trust rule (`federation.<name>`): which OIDC ID tokens it accepts and what their
 * bearer may then ask for. Times are seconds.
 */
export interface FederationRule {
  readonly name: string;
  /** `iss`, compared exactly. */
  readonly issuer: string;
  /** Must appear in `aud`, exactly. */
  readonly audience: string;
  /** Where the issuer's keys are; null: from its discovery document. */
  readonly jwksUri: string | null;
  /** A private CA (PEM) trusted for the issuer's HTTPS endpoints, e.g. a Kubernetes API server's; null: the system's. */
  readonly ca: string | null;
  /** Signature algorithms accepted (asymmetric only). */
  readonly algorithms: readonly string[];
  /** Every condition must hold; never empty. */
  readonly claims: readonly ClaimCondition[];
  /** Template of the caller's name (`gha:{repository}@{ref}`); `{claim}` placeholders are filled from the token. */
  readonly subject: string;
  /** What a matching token may ask for: the same grants as an agent's `--can`. */
  readonly can: readonly { readonly backend: string; readonly scope: string }[];
  /** Longest credential a matching token gets; null: only the backends' max_ttl. */
  readonly maxTtl: number | null;
  /** Each ID token (issuer + jti) may be exchanged once, across replicas. */
  readonly singleUse: boolean;
}

/** The `federation:` block: rules in file order (the first matching rule names the caller). */
export interface FederationConfig {
  readonly rules: readonly FederationRule[];
  /** Accepted but risky settings, logged loudly wherever federation is used. */
  readonly warnings: readonly string[];
}

/** `agents:`: defaults for `creddy agent create`, in seconds. */
export interface AgentsConfig {
  /** Lifetime of a new agent unless `--expires` says otherwise; null = never expires. */
  readonly defaultTtl: number | null;
}

/**
 * `metrics_listen`: where `GET /metrics` is served — on the main port (the key is absent), on an
 * address of its own (`HOST:PORT`; then not on the main port), or nowhere (`off`).
 */
export type MetricsListen =
  | { readonly kind: 'main' }
  | { readonly kind: 'off' }
  | { readonly kind: 'own'; readonly host: string; readonly port: number };

/** The validated, frozen configuration. Paths are absolute. */
export interface Config {
  /** Absolute path of the file it came from, for messages. */
  readonly source: string;
  readonly issuer: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly metricsListen: MetricsListen;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly keys: KeysConfig;
  readonly audit: AuditConfig;
  readonly authThrottle: AuthThrottleConfig;
  readonly http: HttpLimitsConfig;
  readonly backends: ReadonlyMap<string, BackendConfig>;
  readonly federation: FederationConfig;
  readonly agents: AgentsConfig;
  readonly logLevel: LogLevel;
}
