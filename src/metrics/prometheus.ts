import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Logger } from '../_utils/logger.js';
import { ERROR_CODES } from '../errors.js';
import { HotHistogram, type HotSeries } from './hot-histogram.js';
import type { BackendInstruments, IssuanceOutcome, MetricSources, Metrics, MetricsExposition, UpstreamStatus } from './port.js';
import { registerScrapeGauges } from './scrape-gauges.js';

/** The `backend` label of an issuance that named no configured backend. */
export const UNKNOWN_BACKEND = '(unknown)';

/** Issuance and mint durations: a generic issuance takes about a millisecond, a mint may take up to its 20 s deadline. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
/** One Ed25519 signature is tens of microseconds. */
const SIGN_BUCKETS = [0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.0025, 0.01];
/** One audit transaction: an fsync (sub-millisecond to tens of ms), or a wait for a lock. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A count kept on the request path as a plain number, read by its Counter when scraped. */
interface Tally {
  readonly labels: { readonly backend: string; readonly outcome: IssuanceOutcome; readonly code: string };
  count: number;
  /** Shown at 0 too. */
  readonly always: boolean;
}

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
 * with prom-client's process metrics. What an issuance records is bound per backend once, here,
 * and costs plain additions: counts are tallies a Counter reads when scraped, latencies go to
 * {@link HotHistogram}s. Whatever needs a computation (key age, queue depth, due secrets) is
 * computed when scraped (scrape-gauges.ts).
 */
export function createPrometheusMetrics(options: PrometheusOptions): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  let sources: MetricSources | undefined;

  // Counted in plain numbers on the request path (tallies, below); the counter reads them when scraped.
  const tallies: Tally[] = [];
  const issuances: Counter<'backend' | 'outcome' | 'code'> = new Counter({
    name: 'creddy_issuances_total',
    help: 'Issuance requests that reached policy, by backend, outcome (issued, denied, error) and error code',
    labelNames: ['backend', 'outcome', 'code'] as const,
    registers,
    collect() {
      issuances.reset();
      for (const t of tallies) if (t.count > 0 || t.always) issuances.inc(t.labels, t.count);
    },
  });
  const tally = (labels: Tally['labels'], always = false): Tally => {
    const created: Tally = { labels, count: 0, always };
    tallies.push(created);
    return created;
  };
  const issuanceDuration = new HotHistogram(
    'creddy_issuance_duration_seconds',
    'Time from the issuance use case starting (caller authenticated, body parsed) to its answer, audit commit included',
    REQUEST_BUCKETS,
    registry,
  );
  const mintDuration = new HotHistogram(
    'creddy_mint_duration_seconds',
    'Time a backend took to make the downstream credential (retries included), whether it succeeded or not',
    REQUEST_BUCKETS,
    registry,
  );
  const upstreamCalls = new Counter({
    name: 'creddy_upstream_calls_total',
    help: "Calls to a backend's downstream service (GitHub, AWS STS: each HTTP attempt by status class; PostgreSQL: each unit of work, ok or error)",
    labelNames: ['backend', 'status'] as const,
    registers,
  });
  const signDuration = new HotHistogram(
    'creddy_sign_duration_seconds',
    'Time to sign one token (Ed25519)',
    SIGN_BUCKETS,
    registry,
  ).series();
  const commitDuration = new HotHistogram(
    'creddy_audit_commit_duration_seconds',
    'Time of one group-commit audit transaction that committed',
    COMMIT_BUCKETS,
    registry,
  ).series();
  const batchSize = new HotHistogram(
    'creddy_audit_batch_size',
    'Audit entries committed together in one transaction (group commit)',
    BATCH_BUCKETS,
    registry,
  ).series();
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

  registerScrapeGauges(registry, () => sources, options.logger);

  const instruments = new Map<string, BackendInstruments>();
  const bind = (name: string): BackendInstruments => {
    // A configured backend's `issued` series exists from the start, at 0: "nothing issued" is not "no data".
    const issued = tally({ backend: name, outcome: 'issued', code: '' }, name !== UNKNOWN_BACKEND);
    const durations: Record<IssuanceOutcome, HotSeries> = {
      issued: issuanceDuration.series({ backend: name, outcome: 'issued' }),
      denied: issuanceDuration.series({ backend: name, outcome: 'denied' }),
      error: issuanceDuration.series({ backend: name, outcome: 'error' }),
    };
    const mint = mintDuration.series({ backend: name });
    // Bounded: error codes come from one table, statuses from one union.
    const refusals = new Map<string, Tally>();
    const upstream = new Map<UpstreamStatus, { inc(): void }>();
    return {
      issuance(outcome, code, seconds) {
        durations[outcome].observe(seconds);
        if (outcome === 'issued') {
          issued.count++;
          return;
        }
        const known = Object.hasOwn(ERROR_CODES, code) ? code : 'ERR_INTERNAL';
        const key = `${outcome}:${known}`;
        let refused = refusals.get(key);
        if (!refused) refusals.set(key, (refused = tally({ backend: name, outcome, code: known })));
        refused.count++;
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
