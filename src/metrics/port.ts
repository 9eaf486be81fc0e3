/**
 * What the broker reports to its metrics, as a small interface: use cases, the audit writer and
 * backends call it; `prometheus.ts` implements it with prom-client (the only file that imports
 * prom-client), and `noMetrics` is what the CLI and most tests run with. Label values are
 * always from bounded sets (configured backend names, outcomes, error codes, status classes),
 * never from what a caller sent.
 */

/** How an issuance ended. */
export type IssuanceOutcome = 'issued' | 'denied' | 'error';

/**
 * What one call to a backend's downstream service came back with: the HTTP status class
 * (GitHub, AWS STS), or `ok`/`error` for a PostgreSQL unit of work; `timeout` and `unreachable`
 * when nothing answered.
 */
export type UpstreamStatus = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'unreachable' | 'ok' | 'error';

/** Instruments of one backend, bound to its name once (no label lookup per request). */
export interface BackendInstruments {
  /** One issuance ended: its outcome, the error code of a denial or error (`''` when issued), and its duration. */
  issuance(outcome: IssuanceOutcome, code: string, seconds: number): void;
  /** The downstream mint took `seconds`, whether it succeeded or not. */
  mint(seconds: number): void;
  /** One call to the downstream service (one attempt: retries count again). */
  upstream(status: UpstreamStatus): void;
}

/** The signing keys as the schedule sees them, read when metrics are scraped. */
export interface SigningKeyFacts {
  /** Seconds since the current key started signing; undefined without a current key. */
  readonly currentAgeSeconds: number | undefined;
  /** Seconds until the schedule rotates (negative when overdue); undefined when it cannot (no next key). */
  readonly nextRotationInSeconds: number | undefined;
  /** How many key rows are in each state. */
  readonly byState: Readonly<Record<'next' | 'current' | 'retired' | 'revoked', number>>;
  /**
   * Key rows whose sealed private key does not open with the KEK (keyring.ts): neither published
   * nor used to sign. Above 0 means a row written without the KEK, or a wrong KEK.
   */
  readonly unopenable: number;
}

/** Values read only when metrics are scraped, never on the request path. */
export interface MetricSources {
  /** Audit entries waiting for their commit (queued, or in the transaction in flight). */
  auditQueueDepth(): number;
  signingKeys(): SigningKeyFacts;
  /**
   * Live stored secrets past their backend's `max_age`, counted per serving backend (a store
   * read). Absent when no backend sets `max_age`: there is then nothing to count.
   */
  dueSecrets?(): Promise<ReadonlyMap<string, number>>;
}

/** The broker's metrics. */
export interface Metrics {
  /**
   * The instruments of backend `name`. A name that is not configured (a caller's typo) gets the
   * shared `(unknown)` instruments, so callers cannot grow the label set.
   */
  backend(name: string): BackendInstruments;
  /** Signing one token took `seconds`. */
  sign(seconds: number): void;
  /** One group-commit transaction of `size` audit entries took `seconds`; `ok` false when it failed. */
  auditCommit(size: number, seconds: number, ok: boolean): void;
  /** A failed authentication (401 before any throttle), by its code. */
  authFailed(code: string): void;
  /** A failed authentication answered 429: its address is blocked (`address`), or the global audit budget is spent (`global`). */
  throttled(scope: 'address' | 'global'): void;
  /** An address crossed `auth_throttle.max_failures` and is blocked for `auth_throttle.block`. */
  throttleBlock(): void;
  /** Where scrape-time values come from (the composition root calls this once its parts exist). */
  collectFrom(sources: MetricSources): void;
}

/** The Prometheus text of a scrape, however it is produced (this process, or the workers' aggregate). */
export interface MetricsExposition {
  readonly contentType: string;
  text(): Promise<string>;
}

const noInstruments: BackendInstruments = { issuance() {}, mint() {}, upstream() {} };

/** Metrics that record nothing: the CLI, tests that do not look, and `metrics_listen: off`. */
export const noMetrics: Metrics = {
  backend: () => noInstruments,
  sign() {},
  auditCommit() {},
  authFailed() {},
  throttled() {},
  throttleBlock() {},
  collectFrom() {},
};

/** The class of an HTTP status (`404` → `4xx`); `error` for anything that is not one. */
export function statusClass(status: number): UpstreamStatus {
  const hundreds = Math.floor(status / 100);
  return hundreds >= 1 && hundreds <= 5 ? (`${hundreds}xx` as UpstreamStatus) : 'error';
}
