// Closed-loop HTTP load generator on node built-ins only (node:http + a keep-alive Agent).
//
// Run as its own process by bench/issue.mjs so it never shares an event loop with the server it
// measures. C connections each send one request, wait for the whole response, record the latency
// and send the next, until the deadline. Requests during the warm-up are sent but not recorded.
//
//   node bench/load.mjs --url http://127.0.0.1:PORT/v1/credentials --body '{"a":1}' \
//     [--method POST] [--content-type application/json] [--connections 8] [--duration 10]
//     [--warmup 2] [--expect 201] [--raw]
//   env: LOAD_TOKEN (sent as `Authorization: Bearer …`) or LOAD_AUTHORIZATION (the whole header),
//        LOAD_IF_NONE_MATCH; from the environment so a secret never shows in `ps`
//
// Prints one JSON line on stdout: {requests, errors, statuses, seconds, rps, p50_ms, p90_ms, p99_ms,
// max_ms}, plus every latency (`latencies_ms`) with --raw so slices of a run can be merged.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    method: { type: 'string', default: 'POST' },
    'content-type': { type: 'string', default: 'application/json' },
    body: { type: 'string', default: '{}' },
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    expect: { type: 'string', default: '201' },
    raw: { type: 'boolean', default: false },
  },
});
if (!values.url) throw new Error('--url is required');
const url = new URL(values.url);
if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') {
  throw new Error('load.mjs only targets loopback');
}
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const expect = Number(values.expect);

const method = values.method.toUpperCase();
const body = method === 'GET' ? Buffer.alloc(0) : Buffer.from(values.body);
const authorization = process.env.LOAD_AUTHORIZATION ?? (process.env.LOAD_TOKEN ? `Bearer ${process.env.LOAD_TOKEN}` : undefined);
const headers = {
  ...(method === 'GET' ? {} : { 'content-type': values['content-type'], 'content-length': String(body.length) }),
  ...(authorization ? { authorization } : {}),
  ...(process.env.LOAD_IF_NONE_MATCH ? { 'if-none-match': process.env.LOAD_IF_NONE_MATCH } : {}),
};
// maxSockets = connections: every loop owns one socket for the whole run (keep-alive, no churn).
const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
const options = { agent, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: url.pathname, method, headers };

/** Sends one request; resolves with the status once the full body has arrived. */
function once() {
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body.length > 0 ? body : undefined);
  });
}

// Latencies in ms; a closed loop at a few thousand requests/s for tens of seconds fits easily.
const latencies = [];
const statuses = {};
let errors = 0;
let recording = false;

async function loop(deadline) {
  while (performance.now() < deadline) {
    const start = performance.now();
    let status;
    try {
      status = await once();
    } catch {
      status = 'socket_error';
    }
    if (!recording) continue;
    const elapsed = performance.now() - start;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === expect) latencies.push(elapsed);
    else errors += 1;
  }
}

const t0 = performance.now();
const deadline = t0 + warmupMs + durationMs;
const loops = Array.from({ length: connections }, () => loop(deadline));
await new Promise((r) => setTimeout(r, warmupMs));
recording = true;
const measuredFrom = performance.now();
await Promise.all(loops);
const seconds = (performance.now() - measuredFrom) / 1000;
agent.destroy();

latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    errors,
    statuses,
    seconds: round(seconds),
    rps: Math.round((latencies.length / seconds) * 10) / 10,
    p50_ms: round(pct(50)),
    p90_ms: round(pct(90)),
    p99_ms: round(pct(99)),
    max_ms: round(latencies.at(-1) ?? null),
    ...(values.raw ? { latencies_ms: latencies.map(round) } : {}),
  })}\n`,
);
