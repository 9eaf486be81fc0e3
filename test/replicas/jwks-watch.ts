/**
 * Watches what each replica serves at /.well-known/jwks.json, polling every `intervalMs` with
 * If-None-Match, and records when each replica first served each JWKS: key-change propagation
 * seen from outside, as a verifier sees it. The polls run in a worker thread (jwks-watch-worker.mjs),
 * so a busy test cannot delay their timing.
 */
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/** One JWKS as a replica first served it. */
export interface Served {
  /** Date.now() when the poll that saw it returned: the replica served it by then. */
  readonly at: number;
  /** Kids in the order served: the current key first. */
  readonly kids: readonly string[];
}

export interface JwksWatch {
  /** Per replica, each JWKS it served in turn (a change of body), in order. */
  readonly served: Served[][];
  /** Failed polls (any status but 200/304, or a network error), as `replica: what`. */
  readonly errors: string[];
  /** Resolves once every replica has answered a poll. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

type Message = { replica: number; at: number; kids: string[] } | { replica: number; error: string } | 'done';

export function watchJwks(urls: readonly string[], intervalMs = 10): JwksWatch {
  const served: Served[][] = urls.map(() => []);
  const errors: string[] = [];
  let markReady = (): void => {};
  let failed = (_err: Error): void => {};
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    markReady = resolveReady;
    failed = rejectReady;
  });
  const worker = new Worker(resolve(import.meta.dirname, 'jwks-watch-worker.mjs'), { workerData: { urls, intervalMs } });
  const done = new Promise<void>((resolveDone, reject) => {
    worker.on('message', (message: Message) => {
      if (message === 'done') resolveDone();
      else if ('error' in message) errors.push(`${message.replica}: ${message.error}`);
      else {
        served[message.replica]!.push({ at: message.at, kids: message.kids });
        if (served.every((list) => list.length > 0)) markReady();
      }
    });
    worker.once('error', (err) => {
      failed(err);
      reject(err);
    });
    worker.once('exit', () => resolveDone());
  });
  return {
    served,
    errors,
    ready,
    stop: async () => {
      worker.postMessage('stop');
      await done;
      await worker.terminate();
    },
  };
}

/** When `replica` first served a JWKS whose current key (listed first) is `kid` and which lists `next`; undefined if never. */
export function firstServing(watch: JwksWatch, replica: number, kid: string, next: string): number | undefined {
  return watch.served[replica]!.find((s) => s.kids[0] === kid && s.kids.includes(next))?.at;
}
