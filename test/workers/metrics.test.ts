/**
 * `creddy server --workers 2` counts in one registry per worker; a scrape must still show the
 * whole server. On the shared port, whichever worker answers asks the primary for the sum over
 * every worker; on `metrics_listen`, the primary serves that sum itself.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/harness.js';
import { sampleValue } from '../helpers/metrics.js';
import { type Answer, fromEveryWorker, issue, startWorkers, type WorkerSet } from './harness.js';

/** GET /metrics on a connection of its own (so successive scrapes reach the workers in turn); the body is the text. */
function scrapeFresh(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL('/metrics', url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, worker: Number(res.headers['creddy-worker']), body: text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Issues `n` credentials on fresh connections, checks both workers took a share; how many each issued, by pid. */
async function issueOnEveryWorker(set: WorkerSet, token: string, n: number): Promise<Map<number, number>> {
  const answers = [];
  for (let i = 0; i < n; i++) answers.push(await issue(set.url, token));
  expect(answers.every((a) => a.status === 201)).toBe(true);
  expect(new Set(answers.map((a) => a.worker))).toEqual(new Set(set.workerPids()));
  const byWorker = new Map<number, number>();
  for (const a of answers) byWorker.set(a.worker, (byWorker.get(a.worker) ?? 0) + 1);
  return byWorker;
}

describe('creddy server --workers 2: /metrics on the shared port', () => {
  let set: WorkerSet;
  let issuedBy: Map<number, number>;
  beforeAll(async () => {
    set = await startWorkers('sqlite');
  });
  afterAll(async () => {
    await set?.cleanup();
  });

  it('whichever worker is scraped, the text counts every worker’s issuances', async () => {
    const token = await set.agent('caller', 'demo:read');
    issuedBy = await issueOnEveryWorker(set, token, 6);
    const scrapes = await fromEveryWorker(set.workerPids(), () => scrapeFresh(set.url));
    for (const scrape of scrapes) {
      expect(scrape.status).toBe(200);
      const text = scrape.body as string;
      expect(sampleValue(text, 'creddy_issuances_total', { backend: 'demo', outcome: 'issued' })).toBe(6);
      expect(sampleValue(text, 'creddy_issuance_duration_seconds_count', { backend: 'demo', outcome: 'issued' })).toBe(6);
      expect(sampleValue(text, 'creddy_sign_duration_seconds_count')).toBe(6);
      expect(sampleValue(text, 'creddy_workers')).toBe(2);
      // Facts every worker sees alike are taken once, not summed.
      expect(sampleValue(text, 'creddy_backend_info', { backend: 'demo', type: 'generic' })).toBe(1);
      expect(sampleValue(text, 'creddy_signing_keys', { state: 'current' })).toBe(1);
      expect(sampleValue(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    }
  });

  it('a worker killed and restarted leaves the sum with its counts, and the new one joins it', async () => {
    const [victim, survivor] = set.workerPids() as [number, number];
    process.kill(victim, 'SIGKILL');
    await eventually(() => set.log.some((l) => l['msg'] === 'worker restarted'), 15_000);
    const replacement = set.workerPids().find((pid) => pid !== victim && pid !== survivor)!;
    const after = await fromEveryWorker(
      [survivor, replacement],
      () => scrapeFresh(set.url),
      (a) => a.status === 200,
    );
    for (const scrape of after) {
      const text = scrape.body as string;
      expect(sampleValue(text, 'creddy_workers')).toBe(2);
      // What the killed worker had counted is gone with it; the survivor's own counts remain.
      expect(sampleValue(text, 'creddy_issuances_total', { backend: 'demo', outcome: 'issued' })).toBe(issuedBy.get(survivor));
    }
  });

  it('stops cleanly', async () => {
    expect(await set.stop()).toBe(0);
  });
});

describe('creddy server --workers 2 with metrics_listen', () => {
  let set: WorkerSet;
  let metricsUrl: string;
  beforeAll(async () => {
    set = await startWorkers('sqlite', { extra: 'metrics_listen: 127.0.0.1:0' });
    await eventually(() => /creddy metrics on /.test(set.stdout()));
    metricsUrl = /creddy metrics on (\S+)\/metrics/.exec(set.stdout())![1]!;
  });
  afterAll(async () => {
    await set?.cleanup();
  });

  it('the primary serves the sum there, and no worker serves /metrics on the shared port', async () => {
    expect(set.stdout().split('\n')[0]).toBe(`creddy listening on ${set.url}`);
    const token = await set.agent('caller', 'demo:read');
    await issueOnEveryWorker(set, token, 4);
    for (let i = 0; i < 3; i++) {
      const scrape = await scrapeFresh(metricsUrl);
      expect(scrape.status).toBe(200);
      expect(sampleValue(scrape.body as string, 'creddy_issuances_total', { backend: 'demo', outcome: 'issued' })).toBe(4);
      expect(sampleValue(scrape.body as string, 'creddy_workers')).toBe(2);
    }
    const onShared = await fromEveryWorker(set.workerPids(), () => scrapeFresh(set.url));
    expect(onShared.map((a) => a.status)).toEqual([404, 404]);
  });

  it('stops cleanly, the metrics address with it', async () => {
    expect(await set.stop()).toBe(0);
    await expect(fetch(`${metricsUrl}/metrics`)).rejects.toThrow();
  });
});
