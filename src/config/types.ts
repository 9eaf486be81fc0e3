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
export interface AuthThrottleConfig {
  /** Failures one address may have within `window` before it is throttled. */
  readonly maxFailures: number;
  readonly window: number;
  /** How long a throttled address's failures are refused with 429 and not audited one by one. */
  readonly block: number;
  /** Failures audited one by one per `window` across all addresses; beyond it, counted only. */
  readonly maxAuditedPerWindow: number;
}

/** `agents:`: defaults for `creddy agent create`, in seconds. */
export interface AgentsConfig {
  /** Lifetime of a new agent unless `--expires` says otherwise; null = never expires. */
  readonly defaultTtl: number | null;
}

/** The validated, frozen configuration. Paths are absolute. */
export interface Config {
  /** Absolute path of the file it came from, for messages. */
  readonly source: string;
  readonly issuer: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly keys: KeysConfig;
  readonly audit: AuditConfig;
  readonly authThrottle: AuthThrottleConfig;
  readonly backends: ReadonlyMap<string, BackendConfig>;
  readonly agents: AgentsConfig;
  readonly logLevel: LogLevel;
}
