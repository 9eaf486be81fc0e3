import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { MetricsExposition } from './port.js';

/*
 * Metrics of `creddy server --workers N`. Each worker counts in its own registry, so a scrape
 * answered by one worker would show a random 1/N of the traffic. Instead the primary answers
 * every scrape with the sum of all workers: it asks each worker that said it is ready for its
 * registry as JSON (over the cluster IPC channel) and merges them with prom-client's
 * AggregatorRegistry.aggregate (counters and histograms summed; each gauge by its own
 * `aggregator`). A worker whose /metrics is scraped on the shared port asks the primary for
 * that aggregate, so both the shared port and `metrics_listen` show the whole server.
 */

/** How long the primary waits for every worker's registry; the scrape fails (503) past it. */
export const COLLECT_TIMEOUT_MS = 5_000;

type Message =
  | { readonly creddy: 'metrics-ready' }
  | { readonly creddy: 'metrics-collect'; readonly id: number }
  | { readonly creddy: 'metrics-collected'; readonly id: number; readonly metrics: object[] }
  | { readonly creddy: 'metrics-scrape'; readonly id: number }
  | { readonly creddy: 'metrics-text'; readonly id: number; readonly text: string | null };

const isMessage = (m: unknown): m is Message =>
  typeof m === 'object' && m !== null && typeof (m as { creddy?: unknown }).creddy === 'string';

/** The primary's side: the aggregate of the ready workers, and answers to workers that are scraped. */
export interface ClusterMetrics extends MetricsExposition {
  /** Stops listening to the workers. */
  close(): void;
}

/**
 * Call in the primary before forking. Workers count once they have joined (joinClusterMetrics);
 * a worker that exits leaves the sum (its counters with it: Prometheus sees a counter reset).
 */
export function aggregateWorkerMetrics(timeoutMs = COLLECT_TIMEOUT_MS): ClusterMetrics {
  const ready = new Set<Worker>();
  const pending = new Map<number, { readonly waiting: Set<Worker>; readonly got: object[][]; done(err?: Error): void }>();
  const workers = new Registry();
  let next = 0;
  new Gauge({
    name: 'creddy_workers',
    help: 'Worker processes of creddy server --workers whose metrics are in this sum',
    registers: [workers],
    collect() {
      this.set(ready.size);
    },
  });

  const settle = (id: number): void => {
    const request = pending.get(id);
    if (request && request.waiting.size === 0) request.done();
  };
  const text = async (): Promise<string> => {
    const id = next++;
    const asked = [...ready].filter((w) => w.isConnected());
    const got: object[][] = [await workers.getMetricsAsJSON()];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`not every worker sent its metrics within ${timeoutMs} ms`)), timeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        pending.delete(id);
        if (err) reject(err);
        else resolve();
      };
      pending.set(id, { waiting: new Set(asked), got, done });
      for (const worker of asked) worker.send({ creddy: 'metrics-collect', id } satisfies Message);
      settle(id);
    });
    return AggregatorRegistry.aggregate(got).metrics();
  };
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.creddy === 'metrics-ready') ready.add(worker);
    else if (message.creddy === 'metrics-collected') {
      const request = pending.get(message.id);
      if (!request?.waiting.delete(worker)) return;
      request.got.push(message.metrics);
      settle(message.id);
    } else if (message.creddy === 'metrics-scrape') {
      const reply = (body: string | null): void => {
        if (worker.isConnected()) worker.send({ creddy: 'metrics-text', id: message.id, text: body } satisfies Message);
      };
      text().then(reply, () => reply(null));
    }
  };
  const onExit = (worker: Worker): void => {
    ready.delete(worker);
    // A worker gone mid-collection has nothing more to send: the rest make the sum.
    for (const [id, request] of pending) if (request.waiting.delete(worker)) settle(id);
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return {
    contentType: workers.contentType,
    text,
    close() {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
    },
  };
}

/**
 * Call in a worker once its registry exists: answers the primary's collection requests with
 * `registry`, and returns the exposition for this worker's own /metrics route, which is the
 * primary's aggregate.
 */
export function joinClusterMetrics(registry: Registry, timeoutMs = COLLECT_TIMEOUT_MS + 1_000): MetricsExposition {
  const waiting = new Map<number, (text: string | null) => void>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.creddy === 'metrics-collect') {
      void registry.getMetricsAsJSON().then((metrics) => send({ creddy: 'metrics-collected', id: message.id, metrics }));
    } else if (message.creddy === 'metrics-text') {
      waiting.get(message.id)?.(message.text);
    }
  });
  send({ creddy: 'metrics-ready' });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => answer(null), timeoutMs);
        const answer = (text: string | null): void => {
          clearTimeout(timer);
          waiting.delete(id);
          if (text === null) reject(new Error("the primary could not collect the workers' metrics"));
          else resolve(text);
        };
        waiting.set(id, answer);
        send({ creddy: 'metrics-scrape', id });
      }),
  };
}

function send(message: Message): void {
  if (process.connected) process.send?.(message);
}
