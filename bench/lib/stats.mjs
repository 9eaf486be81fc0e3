// Latency statistics for bench/: every generator run reports a quantile grid (latency at
// 0.25 %, 0.5 % … 99.99 %) instead of raw samples; rounds of one target are merged here into one
// distribution, weighting each round by its request count.

/** The quantile grid, in percent: every 0.25 % plus a finer tail (same as wrk-report.lua). */
export const GRID = [...Array.from({ length: 399 }, (_, i) => (i + 1) * 0.25), 99.8, 99.85, 99.9, 99.95, 99.99].sort((a, b) => a - b);

/** The grid of a list of raw latencies in µs (the node generator's output). */
export function gridOf(latenciesUs) {
  const sorted = [...latenciesUs].sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  // wrk's rule: rank = round(p/100 × n + 0.5), 1-based.
  return GRID.map((p) => [p, sorted[Math.min(sorted.length, Math.max(1, Math.round((p / 100) * sorted.length + 0.5))) - 1]]);
}

/**
 * Percentile `p` of the mixture of runs [{requests, quantiles_us: [[p, µs], …]}]: the smallest
 * latency x whose mixture CDF Σ wᵣ·Fᵣ(x) reaches p, with Fᵣ read from each grid as a step.
 */
export function mergedPercentile(runs, p) {
  const total = runs.reduce((a, r) => a + r.requests, 0);
  if (total === 0) return null;
  const cdf = (x) => {
    let sum = 0;
    for (const r of runs) {
      if (r.requests === 0) continue;
      let below = 0;
      for (const [q, v] of r.quantiles_us) if (v <= x) below = q;
      sum += (r.requests / total) * below;
    }
    return sum;
  };
  const candidates = [...new Set(runs.flatMap((r) => r.quantiles_us.map(([, v]) => v)))].sort((a, b) => a - b);
  let lo = 0;
  let hi = candidates.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf(candidates[mid]) >= p - 1e-9) hi = mid;
    else lo = mid + 1;
  }
  return candidates[lo] ?? null;
}

/** Milliseconds with 2 decimals from µs. */
export const ms = (us) => (us === null ? null : Math.round(us / 10) / 100);
