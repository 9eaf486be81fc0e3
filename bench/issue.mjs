// Issuance throughput: creddy (built dist, real SQLite store, audit log, auth) against a bare
// hono + node:crypto baseline, in the same run, on loopback. `npm run bench` builds first.
//
//   node bench/issue.mjs [--connections 8] [--duration 10] [--warmup 2] [--slices 5] [--json]
//                        [--cpu-prof DIR] [--tmp DIR]
//   --duration S    measured seconds per target; --warmup S: unrecorded load per target first
//   --slices N      cut each target's measured time into N slices run alternately (1 = one block each)
//   --cpu-prof DIR  write a V8 CPU profile of the creddy server (read it with bench/profile-summary.mjs)
//   --tmp DIR       where the temporary SQLite store lives (default: the OS temp dir); e.g. /dev/shm
//                   (tmpfs, fsync is free) to see what durable audit commits cost
//   env: BENCH_CONNECTIONS, BENCH_DURATION, BENCH_WARMUP, BENCH_SLICES (flags win); the rest of the
//   environment reaches the creddy server (e.g. CREDDY_AUDIT_SYNC=off)
//
// Both servers run for the whole bench but only one is under load at a time, so they never
// compete with each other; alternating slices means outside load (a shared machine) hits both.
// The load generator (bench/load.mjs) is its own process, one per slice; on a small machine it
// still competes with the server for CPU, which is why the ratio matters more than the absolute
// numbers. The bench stops by itself: every child has a deadline and is stopped at the end.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'main.js');
const BODY = JSON.stringify({ backend: 'demo', scopes: ['read'], ttl: '5m' });
const START_TIMEOUT_MS = 15_000;
/** Each slice starts a fresh generator process; its first moments (JIT) are not recorded. */
const SLICE_WARMUP_SECONDS = 0.3;

const { values } = parseArgs({
  options: {
    connections: { type: 'string', short: 'c', default: process.env.BENCH_CONNECTIONS ?? '8' },
    duration: { type: 'string', short: 'd', default: process.env.BENCH_DURATION ?? '10' },
    warmup: { type: 'string', short: 'w', default: process.env.BENCH_WARMUP ?? '2' },
    slices: { type: 'string', default: process.env.BENCH_SLICES ?? '5' },
    json: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    tmp: { type: 'string', default: tmpdir() },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: node bench/issue.mjs [--connections N] [--duration S] [--warmup S] [--slices N] [--json] [--cpu-prof DIR] [--tmp DIR]\n',
  );
  process.exit(0);
}
const settings = {
  connections: Number(values.connections),
  duration: Number(values.duration),
  warmup: Number(values.warmup),
  slices: Number(values.slices),
};
for (const [k, v] of Object.entries(settings)) {
  if (!Number.isFinite(v) || v < 0 || (k !== 'warmup' && v <= 0) || v > 600)
    throw new Error(`--${k}: expected a number in (0, 600], got ${v}`);
  if ((k === 'connections' || k === 'slices') && !Number.isInteger(v)) throw new Error(`--${k}: expected an integer, got ${v}`);
}

/** Spawns a server and resolves with its URL from the first stdout line matching `pattern`. */
function startChild(name, args, env, pattern) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  // Keep only the tail: enough to explain a failure, never an unbounded buffer.
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms\n${stderr}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening\n${stderr}`));
    });
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        done();
      });
      child.kill('SIGTERM');
    });
  return { child, url, stop, stderr: () => stderr };
}

/** One request outside the measurement: proves the target answers with a real JWT. */
async function probe(url, token) {
  const res = await fetch(`${url}/v1/credentials`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: BODY,
  });
  const body = await res.json();
  if (res.status !== 201 || typeof body.token !== 'string' || body.token.split('.').length !== 3) {
    throw new Error(`probe failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return { token_bytes: body.token.length, response_bytes: JSON.stringify(body).length };
}

/**
 * Runs bench/load.mjs in its own process against `url` for `seconds` (after a short unrecorded
 * warm-up of the fresh generator process); resolves with its JSON result, latencies included.
 */
function load(url, token, seconds, warmup) {
  const args = [
    join(ROOT, 'bench', 'load.mjs'),
    '--url',
    `${url}/v1/credentials`,
    '--body',
    BODY,
    '--raw',
    '--connections',
    String(settings.connections),
    '--duration',
    String(seconds),
    '--warmup',
    String(warmup),
  ];
  // The bearer token goes through the environment, not argv, so `ps` never shows it (it is a
  // throwaway agent in a temp store, but the habit is cheap).
  const env = { ...process.env, ...(token ? { LOAD_TOKEN: token } : {}) };
  return new Promise((resolveLoad, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    const limit = setTimeout(() => child.kill('SIGKILL'), (warmup + seconds + 30) * 1000);
    // 'close', not 'exit': it fires only after stdout has been fully read.
    child.once('close', (code) => {
      clearTimeout(limit);
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolveLoad(JSON.parse(out));
    });
  });
}

/** Merges the slices of one target into totals and percentiles over every recorded request. */
function merge(slices, shape) {
  const latencies = slices.flatMap((s) => s.latencies_ms).sort((a, b) => a - b);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  const statuses = {};
  for (const s of slices) for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
  return {
    rps: Math.round((latencies.length / seconds) * 10) / 10,
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    max_ms: latencies.at(-1) ?? null,
    requests: latencies.length,
    errors: slices.reduce((a, s) => a + s.errors, 0),
    statuses,
    seconds: Math.round(seconds * 1000) / 1000,
    slices_rps: slices.map((s) => s.rps),
    ...shape,
  };
}

function startBaseline() {
  return startChild(
    'baseline',
    [join(ROOT, 'bench', 'baseline.mjs'), '--listen', '127.0.0.1:0'],
    process.env,
    /baseline listening on (\S+)/,
  );
}

function startCreddy(dir) {
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(
    configPath,
    [
      'issuer: http://127.0.0.1:8400',
      'listen: 127.0.0.1:0',
      `data_dir: ${dataDir}`,
      'backends:',
      '  demo:',
      '    type: generic',
      '    audience: demo',
      '    default_ttl: 15m',
      '    max_ttl: 1h',
      '    allowed_scopes: [read, write]',
      '    default_scopes: [read]',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const env = { ...process.env, CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') };
  // Created before the server starts; both processes share the SQLite store.
  const created = JSON.parse(
    execFileSync(process.execPath, [CLI, 'agent', 'create', 'bench', '--can', 'demo:read', '--config', configPath, '--json'], {
      env,
      cwd: ROOT,
      encoding: 'utf8',
    }),
  );
  const nodeFlags = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`] : [];
  const server = startChild(
    'creddy',
    [...nodeFlags, CLI, 'server', '--config', configPath, '--listen', '127.0.0.1:0'],
    env,
    /creddy listening on (\S+)/,
  );
  return { ...server, token: created.token };
}

// Load average before the run: on a shared machine, other work skews both targets.
const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
const dir = mkdtempSync(join(resolve(values.tmp), 'creddy-bench-'));
const servers = [];
let result;
try {
  const baselineServer = startBaseline();
  servers.push(baselineServer);
  const creddyServer = startCreddy(dir);
  servers.push(creddyServer);
  const targets = [
    { name: 'baseline', url: await baselineServer.url, token: undefined, slices: [] },
    { name: 'creddy', url: await creddyServer.url, token: creddyServer.token, slices: [] },
  ];
  for (const t of targets) t.shape = await probe(t.url, t.token);
  // Warm both (JIT, SQLite page cache) before anything is recorded.
  for (const t of targets) if (settings.warmup > 0) await load(t.url, t.token, settings.warmup, 0);
  // Interleave: the measured time of each target is cut into slices run alternately (order
  // flipped every round), so a burst of outside load hits both targets, not one.
  const sliceSeconds = settings.duration / settings.slices;
  for (let i = 0; i < settings.slices; i++) {
    const order = i % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) t.slices.push(await load(t.url, t.token, sliceSeconds, SLICE_WARMUP_SECONDS));
  }
  const [baseline, creddy] = targets.map((t) => merge(t.slices, t.shape));
  const ratio = (a, b) => (b ? Math.round((a / b) * 1000) / 1000 : null);
  result = {
    machine: {
      nproc: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadavg_before: loadBefore,
    },
    settings,
    creddy,
    baseline,
    ratio: { rps: ratio(creddy.rps, baseline.rps), p50: ratio(creddy.p50_ms, baseline.p50_ms), p99: ratio(creddy.p99_ms, baseline.p99_ms) },
  };
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const { machine, creddy, baseline, ratio } = result;
  const row = (name, r) =>
    `${name.padEnd(18)} ${String(r.rps).padStart(10)} ${String(r.p50_ms).padStart(9)} ${String(r.p99_ms).padStart(9)} ${String(r.requests).padStart(9)} ${String(r.errors).padStart(7)}`;
  process.stdout.write(
    [
      `issuance bench: ${settings.connections} connections, ${settings.duration}s measured per target in ${settings.slices} alternating slices after ${settings.warmup}s warm-up, loopback`,
      `machine: ${machine.nproc} CPUs (${machine.cpu}), node ${machine.node}, load average before ${machine.loadavg_before.join(' ')}; the load generator shares these CPUs`,
      '',
      `${'target'.padEnd(18)} ${'req/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'requests'.padStart(9)} ${'errors'.padStart(7)}`,
      row('creddy', creddy),
      row('baseline (hono)', baseline),
      `${'creddy/baseline'.padEnd(18)} ${String(ratio.rps).padStart(10)} ${String(ratio.p50).padStart(9)} ${String(ratio.p99).padStart(9)}`,
      '',
    ].join('\n'),
  );
}
if (result.creddy.errors > 0 || result.baseline.errors > 0) process.exitCode = 1;
