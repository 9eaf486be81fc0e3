import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../_utils/logger.js';
import type { MetricSources } from './port.js';

/**
 * The gauges computed when scraped, from `sources` (undefined until the composition root has
 * given them). Each says how the workers of `--workers` are combined (`aggregator`): a count is
 * summed, a fact every worker reads from the one store is taken once (max or min).
 */
export function registerScrapeGauges(registry: Registry, sources: () => MetricSources | undefined, logger: Logger): void {
  const registers = [registry];
  new Gauge({
    name: 'creddy_audit_queue_depth',
    help: 'Audit entries waiting for their commit (queued, or in the transaction in flight)',
    aggregator: 'sum',
    registers,
    collect() {
      const given = sources();
      if (given) this.set(given.auditQueueDepth());
    },
  });
  new Gauge({
    name: 'creddy_signing_key_age_seconds',
    help: 'Seconds since the current signing key started signing',
    aggregator: 'max',
    registers,
    collect() {
      const age = sources()?.signingKeys().currentAgeSeconds;
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
      const due = sources()?.signingKeys().nextRotationInSeconds;
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
      const given = sources();
      if (!given) return;
      for (const [state, n] of Object.entries(given.signingKeys().byState)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'creddy_signing_keys_unopenable',
    help: 'Signing key rows whose sealed private key does not open with the KEK: neither published nor used to sign',
    aggregator: 'max',
    registers,
    collect() {
      const given = sources();
      if (given) this.set(given.signingKeys().unopenable);
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
      const read = sources()?.dueSecrets;
      if (!read) return;
      try {
        const counts = await read();
        // Every backend that sets max_age has a series, 0 included: absent would read as "unknown".
        dueSecrets.reset();
        for (const [backend, n] of counts) dueSecrets.set({ backend }, n);
        if (dueFailing) logger.info('metrics: due secrets readable again');
        dueFailing = false;
      } catch (err) {
        // A scrape must not fail because the store does: leave the series out and say so once.
        dueSecrets.reset();
        if (!dueFailing) logger.warn('metrics: could not count due secrets', { error: (err as Error).message });
        dueFailing = true;
      }
    },
  });
}
