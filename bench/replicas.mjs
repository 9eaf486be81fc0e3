// Issuance throughput and change propagation across processes: SQLite vs PostgreSQL, one process
// vs `--workers N` (one port) vs N replicas (one port each, PostgreSQL only), in the same run.
// `npm run bench:replicas` builds first.
//
//   node bench/replicas.mjs [--stores sqlite,postgres] [--workers 2] [--replicas 2] [--connections 8]
//                           [--duration 10] [--warmup 2] [--slices 5] [--samples 10]
//                           [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--tmp DIR] [--json]
//   --duration S  measured seconds of load per target (0 = no throughput run, propagation only)
//   --samples N   propagation samples per change kind and multi-process target (0 = none)
//   --pg-url      a superuser URL on loopback: the bench creates one throw-away database per
//                 PostgreSQL target and drops it at the end
//   --wait-idle S before starting, wait up to S seconds for 5 s in a row with the machine ≥ 90 % idle
//                 (a shared machine); the run starts anyway after S, and says so
//
// Throughput: every target runs for the whole bench; only one is under load at a time, in
// alternating slices (order flipped every round), so bursts of outside load on a shared machine
// land on all of them. Load is bench/load.mjs (its own process); a target with several URLs
// (replicas) gets one generator per URL sharing the connections, and their latencies are merged.
//
// Propagation: the time from the start of a change to the moment the last process serving the
// target reflects it, polled on every process (replicas by URL; workers through fresh connections,
// told apart by their `creddy-worker` header):
//   key rotation (CLI path, in process: rotateKeys --force)  → issuance signs with the new current kid
//   agent revocation (CLI path: revokeAgent)                  → issuance with its token is refused (401)
//   credential revocation (HTTP DELETE on one process)        → GET /v1/credentials no longer lists it
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { load, merge, startCreddy } from './replicas-run.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'main.js');

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'sqlite,postgres' },
    workers: { type: 'string', default: '2' },
    replicas: { type: 'string', default: '2' },
    connections: { type: 'string', short: 'c', default: '8' },
    duration: { type: 'string', short: 'd', default: '10' },
    warmup: { type: 'string', short: 'w', default: '2' },
    slices: { type: 'string', default: '5' },
    samples: { type: 'string', default: '10' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    tmp: { type: 'string', default: tmpdir() },
    'wait-idle': { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
});
const n = (name) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 0 || v > 600) throw new Error(`--${name}: expected an integer in [0, 600]`);
  return v;
};
const settings = {
  workers: n('workers'),
  replicas: n('replicas'),
  connections: n('connections'),
  duration: Number(values.duration),
  warmup: Number(values.warmup),
  slices: n('slices'),
  samples: n('samples'),
};
const stores = values.stores.split(',').map((s) => s.trim());
const pgAdmin = new URL(values['pg-url']);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(pgAdmin.hostname)) throw new Error('--pg-url must be on loopback');

/** /proc/stat busy and total jiffies of the whole machine, for the CPU share used during the run. */
function cpuTimes() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const nums = fields.map(Number);
  const idle = nums[3] + (nums[4] ?? 0);
  const total = nums.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** This process's CPU and its waited-for children's (load generators, servers once stopped), in the same ticks. */
function ownTicks() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // After ") ": state is field 3, so utime/stime/cutime/cstime (fields 14–17) are at 11–14.
  return [11, 12, 13, 14].reduce((a, i) => a + Number(fields[i]), 0);
}

/** Waits (up to `maxSeconds`) for 5 consecutive seconds of a ≥ 90 % idle machine; true if it came. */
async function waitIdle(maxSeconds) {
  const end = Date.now() + maxSeconds * 1000;
  let quiet = 0;
  while (Date.now() < end) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, 1000));
    const b = cpuTimes();
    quiet = (b.busy - a.busy) / (b.total - a.total) <= 0.1 ? quiet + 1 : 0;
    if (quiet >= 5) return true;
  }
  return maxSeconds === 0;
}

async function pgAdminQuery(sql) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: pgAdmin.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** One target: its store, how many processes, and how they listen. */
async function createTarget(store, mode, count, dir) {
  const name = `${store}/${mode === 'single' ? '1 process' : `${count} ${mode}`}`;
  let storeUrl;
  let dbName;
  if (store === 'postgres') {
    dbName = `creddy_bench_${randomBytes(4).toString('hex')}`;
    await pgAdminQuery(`CREATE DATABASE ${dbName}`);
    const url = new URL(pgAdmin);
    url.pathname = `/${dbName}`;
    storeUrl = url.toString();
  }
  const target = await startCreddy({ name, dir, storeUrl, mode, count, cli: CLI, root: ROOT });
  target.dropDatabase = dbName ? () => pgAdminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`) : async () => {};
  return target;
}

/** One HTTP request on a fresh connection (so workers behind one port take turns). */
function call(url, { method = 'GET', token, body } = {}) {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method,
        agent: false,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode, worker: res.headers['creddy-worker'], body: text ? JSON.parse(text) : null }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const kidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;
const ISSUE = { backend: 'demo', scopes: ['read'], ttl: '5m' };

/**
 * Polls every process of `target` until each has answered `reflects(res) === true`; returns the
 * ms from `t0` to the first such answer of the last process. Processes are URLs (replicas) or
 * worker pids behind one URL (learned as they answer).
 */
async function untilAllReflect(target, t0, probe, reflects, expected) {
  const seen = new Map(); // process → first reflecting time
  const known = new Set();
  const deadline = t0 + 10_000;
  const loops =
    target.urls.length > 1
      ? target.urls.map((u, i) => ({ url: u, id: `r${i}` }))
      : Array.from({ length: expected }, () => ({ url: target.urls[0] }));
  await Promise.all(
    loops.map(async ({ url, id }) => {
      while (seen.size < expected || known.size < expected) {
        if (performance.now() > deadline) throw new Error(`${target.name}: change not reflected within 10 s`);
        const res = await probe(url);
        const who = id ?? res.worker;
        known.add(who);
        if (!seen.has(who) && reflects(res)) seen.set(who, performance.now());
      }
    }),
  );
  return Math.max(...seen.values()) - t0;
}

async function propagation(target) {
  // Per change kind: ms to the last process reflecting it (`ms`), and ms the change call itself took (`change_ms`).
  const out = {
    key_rotation: { ms: [], change_ms: [] },
    agent_revocation: { ms: [], change_ms: [] },
    credential_revocation: { ms: [], change_ms: [] },
  };
  const expected = target.processes;
  const { rotateKeys, revokeAgent, services } = await target.inProcess();
  const timed = async (kind, change, probe, reflects) => {
    const t0 = performance.now();
    const result = await change();
    out[kind].change_ms.push(performance.now() - t0);
    out[kind].ms.push(await untilAllReflect(target, t0, probe, reflects(result), expected));
  };
  try {
    const issue = (url) => call(`${url}/v1/credentials`, { method: 'POST', token: target.token, body: ISSUE });
    for (let i = 0; i < settings.samples; i++) {
      // Key rotation, as `creddy keys rotate --force` does it.
      await timed(
        'key_rotation',
        () => rotateKeys(services, { actor: 'cli', force: true }),
        issue,
        (rotated) => (r) => r.status === 201 && kidOf(r.body.token) === rotated.current,
      );
      // Agent revocation, as `creddy agent revoke` does it.
      const agent = target.createAgent(`revokee-${i}`);
      const asAgent = (url) => call(`${url}/v1/credentials`, { method: 'POST', token: agent, body: ISSUE });
      await timed(
        'agent_revocation',
        () => revokeAgent(services, `revokee-${i}`, 'cli'),
        asAgent,
        // 401, or the throttle's 429 once earlier samples' refusals add up: it too follows a
        // failed authentication (its cause names the revocation), so the change was seen.
        () => (r) => r.status === 401 || (r.status === 429 && r.body?.error?.details?.cause === 'ERR_AGENT_REVOKED'),
      );
      // Credential revocation over HTTP on one process, seen in every process's listing (of an
      // agent holding just this one credential, so the listing stays a small request).
      const holder = target.createAgent(`holder-${i}`);
      const issued = await call(`${target.urls[0]}/v1/credentials`, { method: 'POST', token: holder, body: ISSUE });
      const list = (url) => call(`${url}/v1/credentials`, { token: holder });
      await timed(
        'credential_revocation',
        async () => {
          const del = await call(`${target.urls[0]}/v1/credentials/${issued.body.id}`, { method: 'DELETE', token: holder });
          if (del.status !== 200) throw new Error(`revoke failed: ${del.status}`);
        },
        list,
        () => (r) => r.status === 200 && !JSON.stringify(r.body).includes(issued.body.id),
      );
    }
  } finally {
    await services.close();
  }
  const r = (x) => Math.round(x * 10) / 10;
  const summary = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median_ms: r(s[Math.floor(s.length / 2)]), max_ms: r(s.at(-1)) };
  };
  return Object.fromEntries(
    Object.entries(out).map(([kind, v]) => [kind, { samples: v.ms.length, ...summary(v.ms), change: summary(v.change_ms) }]),
  );
}

const waitedIdle = await waitIdle(Number(values['wait-idle']));
const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
const cpuBefore = cpuTimes();
const ownBefore = ownTicks();
const dir = mkdtempSync(join(resolve(values.tmp), 'creddy-bench-replicas-'));
const targets = [];
let result;
try {
  for (const store of stores) {
    if (store !== 'sqlite' && store !== 'postgres') throw new Error(`--stores: unknown store ${store}`);
    targets.push(await createTarget(store, 'single', 1, join(dir, `${store}-single`)));
    if (settings.workers > 1) targets.push(await createTarget(store, 'workers', settings.workers, join(dir, `${store}-workers`)));
    // Replicas on one SQLite file would be workers without the shared port: not a deployment.
    if (store === 'postgres' && settings.replicas > 1) {
      targets.push(await createTarget(store, 'replicas', settings.replicas, join(dir, `${store}-replicas`)));
    }
  }
  for (const t of targets) t.slices = [];
  let throughput = {};
  // --duration 0: propagation only.
  if (settings.duration > 0) {
    for (const t of targets) if (settings.warmup > 0) await load(t, settings.connections, settings.warmup, 0);
    const sliceSeconds = settings.duration / settings.slices;
    for (let i = 0; i < settings.slices; i++) {
      const order = i % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) t.slices.push(await load(t, settings.connections, sliceSeconds, 0.3));
    }
    throughput = Object.fromEntries(targets.map((t) => [t.name, merge(t.slices)]));
  }
  const propagated = {};
  if (settings.samples > 0) {
    for (const t of targets) {
      if (t.processes === 1) continue;
      // A failed propagation run is reported, not allowed to throw away the throughput figures.
      propagated[t.name] = await propagation(t).catch((err) => ({ error: err.message }));
    }
  }
  result = { settings, throughput, propagation: propagated };
} finally {
  for (const t of targets) {
    await t.stop();
    await t.dropDatabase();
  }
  rmSync(dir, { recursive: true, force: true });
}
{
  // Shares of both CPUs over the run: all processes; the bench's own tree (servers, workers, load
  // generators); the rest, which includes PostgreSQL's backends (ours and anyone else's).
  const cpuAfter = cpuTimes();
  const total = cpuAfter.total - cpuBefore.total;
  const busy = (cpuAfter.busy - cpuBefore.busy) / total;
  const own = ((ownTicks() - ownBefore) * cpus().length) / total;
  const share = (x) => Math.round(x * 1000) / 1000;
  result.machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    started_idle: waitedIdle,
    loadavg_before: loadBefore,
    loadavg_after: loadavg().map((x) => Math.round(x * 100) / 100),
    cpu_busy: share(busy),
    cpu_bench: share(own),
    cpu_outside: share(Math.max(0, busy - own)),
  };
}

const pct = (x) => `${Math.round(x * 100)} %`;
if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  const { machine, throughput, propagation: prop } = result;
  const lines = [
    `replicas bench: ${settings.connections} connections, ${settings.duration}s per target in ${settings.slices} alternating slices after ${settings.warmup}s warm-up, loopback`,
    `machine: ${machine.nproc} CPUs (${machine.cpu}), node ${machine.node}; load average before ${machine.loadavg_before.join(' ')}, after ${machine.loadavg_after.join(' ')}${machine.started_idle ? '' : '; started WITHOUT an idle machine'}`,
    `CPU during the run (share of all CPUs): busy ${pct(machine.cpu_busy)}, of which the bench's processes ${pct(machine.cpu_bench)} and the rest (PostgreSQL, other users) ${pct(machine.cpu_outside)}; the load generator shares these CPUs`,
    '',
    `${'target'.padEnd(22)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'requests'.padStart(9)} ${'errors'.padStart(7)}`,
    ...Object.entries(throughput).map(
      ([name, r]) =>
        `${name.padEnd(22)} ${String(r.rps).padStart(9)} ${String(r.p50_ms).padStart(8)} ${String(r.p99_ms).padStart(8)} ${String(r.requests).padStart(9)} ${String(r.errors).padStart(7)}`,
    ),
  ];
  if (Object.keys(prop).length > 0) {
    lines.push('', 'propagation: start of the change → last process reflecting it, median / max ms (the change call itself, median / max)');
    for (const [name, p] of Object.entries(prop)) {
      if (p.error) {
        lines.push(`${name.padEnd(22)} FAILED: ${p.error}`);
        continue;
      }
      const f = (s) => `${s.median_ms} / ${s.max_ms} (${s.change.median_ms} / ${s.change.max_ms})`;
      lines.push(
        `${name.padEnd(22)} key rotation ${f(p.key_rotation)}; agent revocation ${f(p.agent_revocation)}; credential revocation ${f(p.credential_revocation)}`,
      );
    }
  }
  // Without a throughput run (--duration 0) the table has a header only.
  if (Object.keys(throughput).length === 0) lines.splice(3, 2);
  process.stdout.write(`${lines.join('\n')}\n`);
}
if (Object.values(result.throughput).some((r) => r.errors > 0) || Object.values(result.propagation).some((p) => p.error)) {
  process.exitCode = 1;
}
