/**
 * The poller of jwks-watch.ts, in a worker thread so that the test's own work (issuing, verifying,
 * garbage collection) cannot delay the moment a poll's answer is timed. workerData: { urls,
 * intervalMs }. Posts { replica, at, kids } for each JWKS a replica serves that differs from its
 * previous one, { replica, error } for a failed poll, and 'done' once stopped by a 'stop' message.
 */
import { parentPort, workerData } from 'node:worker_threads';

const { urls, intervalMs } = workerData;
let stopped = false;
parentPort.on('message', (message) => {
  if (message === 'stop') stopped = true;
});

async function poll(replica) {
  let etag = null;
  while (!stopped) {
    try {
      const res = await fetch(`${urls[replica]}/.well-known/jwks.json`, { headers: etag ? { 'if-none-match': etag } : {} });
      const text = await res.text();
      if (res.status === 200) {
        etag = res.headers.get('etag');
        parentPort.postMessage({ replica, at: Date.now(), kids: JSON.parse(text).keys.map((k) => k.kid) });
      } else if (res.status !== 304) {
        parentPort.postMessage({ replica, error: `HTTP ${res.status}` });
      }
    } catch (err) {
      parentPort.postMessage({ replica, error: err.message });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

await Promise.all(urls.map((_, replica) => poll(replica)));
parentPort.postMessage('done');
