/**
 * HotHistogram renders exactly what prom-client's Histogram renders for the same observations
 * (the same samples, label order aside), and sums across workers the same way.
 */
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotHistogram } from '../../src/metrics/hot-histogram.js';
import { parseExposition } from '../helpers/metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.001, 0.0011, 0.05, 0.1, 0.7, 1, 3, 1e-7];

/** Samples, each as `name{sorted labels} value`, sorted. */
const normalised = (text: string): string[] =>
  parseExposition(text)
    .map(
      (s) =>
        `${s.name}{${Object.keys(s.labels)
          .sort()
          .map((k) => `${k}=${s.labels[k]}`)
          .join(',')}} ${s.value}`,
    )
    .sort();

function both(): { hot: Registry; reference: Registry } {
  const hot = new Registry();
  const reference = new Registry();
  const h = new HotHistogram('latency_seconds', 'help text', BUCKETS, hot);
  const r = new Histogram({
    name: 'latency_seconds',
    help: 'help text',
    labelNames: ['backend'],
    buckets: BUCKETS,
    registers: [reference],
  });
  const [a, b] = [h.series({ backend: 'a' }), h.series({ backend: 'b' })];
  h.series({ backend: 'never-observed' });
  for (const v of VALUES) {
    a.observe(v);
    r.observe({ backend: 'a' }, v);
  }
  b.observe(0.02);
  r.observe({ backend: 'b' }, 0.02);
  return { hot, reference };
}

describe('HotHistogram', () => {
  it("renders prom-client's histogram text", async () => {
    const { hot, reference } = both();
    const text = await hot.metrics();
    expect(normalised(text)).toEqual(normalised(await reference.metrics()));
    expect(text).toContain('# TYPE latency_seconds histogram');
    expect(text).not.toContain('never-observed');
  });

  it('aggregates like a histogram across registries (workers)', async () => {
    const one = both();
    const two = both();
    const hot = AggregatorRegistry.aggregate([await one.hot.getMetricsAsJSON(), await two.hot.getMetricsAsJSON()]);
    const reference = AggregatorRegistry.aggregate([await one.reference.getMetricsAsJSON(), await two.reference.getMetricsAsJSON()]);
    expect(normalised(await hot.metrics())).toEqual(normalised(await reference.metrics()));
  });
});
