import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../_utils/logger.js';
import { ERROR_CODES } from '../errors.js';
import type { BackendInstruments, IssuanceOutcome, MetricSources, Metrics, MetricsExposition, UpstreamStatus } from './port.js';

/** The `backend` label of an issuance that named no configured backend. */
export const UNKNOWN_BACKEND = '(unknown)';

/** Issuance and mint durations: a generic issuance takes about a millisecond, a mint may take up to its 20 s deadline. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
/** One Ed25519 signature is tens of microseconds. */
const SIGN_BUCKETS = [0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.0025, 0.01];
/** One audit transaction: an fsync (sub-millisecond to tens of ms), or a wait for a lock. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** The Prometheus implementation of {@link Metrics}, with its registry and its text. */
export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry;
  /** This process's metrics as Prometheus text. */
  readonly exposition: MetricsExposition;
}

export interface PrometheusOptions {
  /** The configured backends: the only values the `backend` label takes (besides `(unknown)`). */
  readonly backends: Iterable<{ readonly name: string; readonly type: string }>;
  readonly logger: Logger;
}

/**
 * Builds the broker's instruments in a registry of their own (never prom-client's global one),
 * with prom-client's process metrics. Each backend's label children are bound once, here, so a
 * request costs no label lookup; a gauge that needs a computation (key age, queue depth, due
 * secrets) is computed when scraped. Gauges say how the workers of `--workers` are combined
 * (`aggregator`): counts are summed, facts every worker sees alike are taken once.
 */
export function createPrometheusMetrics(options: PrometheusOptions): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  let sources: MetricSources | undefined;

  const issuances = new Counter({
    name: 'creddy_issuances_total',
    help: 'Issuance requests that reached policy, by backend, outcome (issued, denied, error) and error code',
    labelNames: ['backend', 'outcome', 'code'] as const,
    registers,
  });
  const issuanceDuration = new Histogram({
    name: 'creddy_issuance_duration_seconds',
    help: 'Time from the issuance use case starting (caller authenticated, body parsed) to its answer, audit commit included',
    labelNames: ['backend', 'outcome'] as const,
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const mintDuration = new Histogram({
    name: 'creddy_mint_duration_seconds',
    help: 'Time a backend took to make the downstream credential (retries included), whether it succeeded or not',
    labelNames: ['backend'] as const,
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const upstreamCalls = new Counter({
    name: 'creddy_upstream_calls_total',
    help: "Calls to a backend's downstream service (GitHub, AWS STS: each HTTP attempt by status class; PostgreSQL: each unit of work, ok or error)",
    labelNames: ['backend', 'status'] as const,
    registers,
  });
  const signDuration = new Histogram({
    name: 'creddy_sign_duration_seconds',
    help: 'Time to sign one token (Ed25519)',
    buckets: SIGN_BUCKETS,
    registers,
  });
  const commitDuration = new Histogram({
    name: 'creddy_audit_commit_duration_seconds',
    help: 'Time of one group-commit audit transaction that committed',
    buckets: COMMIT_BUCKETS,
    registers,
  });
  const batchSize = new Histogram({
    name: 'creddy_audit_batch_size',
    help: 'Audit entries committed together in one transaction (group commit)',
    buckets: BATCH_BUCKETS,
    registers,
  });
  const commitFailures = new Counter({
    name: 'creddy_audit_commit_failures_total',
    help: 'Audit transactions that failed (each failed its requests closed, 503)',
    registers,
  });
  const authFailures = new Counter({
    name: 'creddy_auth_failures_total',
    help: 'Failed authentications, by error code',
    labelNames: ['code'] as const,
    registers,
  });
  const throttled = new Counter({
    name: 'creddy_auth_throttled_total',
    help: 'Failed authentications answered 429: the address is blocked (address) or the global audit budget is spent (global)',
    labelNames: ['scope'] as const,
    registers,
  });
  const throttleBlocks = new Counter({
    name: 'creddy_auth_throttle_blocks_total',
    help: 'Addresses blocked after auth_throttle.max_failures failures within auth_throttle.window',
    registers,
  });
  const backendInfo = new Gauge({
    name: 'creddy_backend_info',
    help: 'One series per configured backend, naming its type',
    labelNames: ['backend', 'type'] as const,
    aggregator: 'max',
    registers,
  });

  new Gauge({
    name: 'creddy_audit_queue_depth',
    help: 'Audit entries waiting for their commit (queued, or in the transaction in flight)',
    aggregator: 'sum',
    registers,
    collect() {
      if (sources) this.set(sources.auditQueueDepth());
    },
  });
  new Gauge({
    name: 'creddy_signing_key_age_seconds',
    help: 'Seconds since the current signing key started signing',
    aggregator: 'max',
    registers,
    collect() {
      const age = sources?.signingKeys().currentAgeSeconds;
      if (age === undefined) this.reset();
      else this.set(age);
    },
  });
  new Gauge({
    name: 'creddy_signing_key_rotation_in_seconds',
    help: 'Seconds until the schedule rotates the signing key (negative: overdue); absent when no next key exists',
    aggregator: 'min',
    registers,
    collect() {
      const due = sources?.signingKeys().nextRotationInSeconds;
      if (due === undefined) this.reset();
      else this.set(due);
    },
  });
  new Gauge({
    name: 'creddy_signing_keys',
    help: 'Signing key rows by state',
    labelNames: ['state'] as const,
    aggregator: 'max',
    registers,
    collect() {
      if (!sources) return;
      for (const [state, n] of Object.entries(sources.signingKeys().byState)) this.set({ state }, n);
    },
  });
  let dueFailing = false;
  const dueSecrets: Gauge<'backend'> = new Gauge({
    name: 'creddy_secrets_due',
    help: "Live stored secrets older than their backend's max_age (due for rotation), by serving backend",
    labelNames: ['backend'] as const,
    aggregator: 'max',
    registers,
    async collect() {
      const read = sources?.dueSecrets;
      if (!read) return;
      try {
        const counts = await read();
        // Every backend that sets max_age has a series, 0 included: absent would read as "unknown".
        dueSecrets.reset();
        for (const [backend, n] of counts) dueSecrets.set({ backend }, n);
        if (dueFailing) options.logger.info('metrics: due secrets readable again');
        dueFailing = false;
      } catch (err) {
        // A scrape must not fail because the store does: leave the series out and say so once.
        dueSecrets.reset();
        if (!dueFailing) options.logger.warn('metrics: could not count due secrets', { error: (err as Error).message });
        dueFailing = true;
      }
    },
  });

  const instruments = new Map<string, BackendInstruments>();
  const bind = (name: string): BackendInstruments => {
    const issued = issuances.labels(name, 'issued', '');
    // A configured backend's series exist from the start, at 0: "nothing issued" is not "no data".
    if (name !== UNKNOWN_BACKEND) issued.inc(0);
    const durations: Record<IssuanceOutcome, { observe(v: number): void }> = {
      issued: issuanceDuration.labels(name, 'issued'),
      denied: issuanceDuration.labels(name, 'denied'),
      error: issuanceDuration.labels(name, 'error'),
    };
    const mint = mintDuration.labels(name);
    // Bounded: error codes come from one table, statuses from one union.
    const refusals = new Map<string, { inc(): void }>();
    const upstream = new Map<UpstreamStatus, { inc(): void }>();
    return {
      issuance(outcome, code, seconds) {
        durations[outcome].observe(seconds);
        if (outcome === 'issued') return issued.inc();
        const known = Object.hasOwn(ERROR_CODES, code) ? code : 'ERR_INTERNAL';
        const key = `${outcome}:${known}`;
        let child = refusals.get(key);
        if (!child) refusals.set(key, (child = issuances.labels(name, outcome, known)));
        child.inc();
      },
      mint: (seconds) => mint.observe(seconds),
      upstream(status) {
        let child = upstream.get(status);
        if (!child) upstream.set(status, (child = upstreamCalls.labels(name, status)));
        child.inc();
      },
    };
  };
  for (const { name, type } of options.backends) {
    instruments.set(name, bind(name));
    backendInfo.set({ backend: name, type }, 1);
  }
  const unknown = bind(UNKNOWN_BACKEND);
  for (const scope of ['address', 'global'] as const) throttled.labels(scope).inc(0);

  return {
    registry,
    exposition: { contentType: registry.contentType, text: () => registry.metrics() },
    backend: (name) => instruments.get(name) ?? unknown,
    sign: (seconds) => signDuration.observe(seconds),
    auditCommit(size, seconds, ok) {
      if (!ok) return commitFailures.inc();
      commitDuration.observe(seconds);
      batchSize.observe(size);
    },
    authFailed: (code) => authFailures.inc({ code: Object.hasOwn(ERROR_CODES, code) ? code : 'ERR_INTERNAL' }),
    throttled: (scope) => throttled.inc({ scope }),
    throttleBlock: () => throttleBlocks.inc(),
    collectFrom(given) {
      sources = given;
    },
  };
}
