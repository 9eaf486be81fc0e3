// Issuance at the physical limit: creddy (built dist, real SQLite store, durable audit, auth)
// against two references in the same run — a bare hono + node:crypto sign baseline, and
// oidc-provider doing client_credentials with an EdDSA at+jwt — plus a JWKS phase (a GET served
// from memory) against hono's hello. `npm run bench` builds first. See bench/README.md.
// creddy runs as deployed: with the runtime environment of deploy/creddy.service (NODE_OPTIONS).
//
//   node bench/issue.mjs [--connections 8,32,128] [--duration 10] [--rounds 2] [--warmup 3]
//                        [--targets baseline,oidc-provider,creddy] [--jwks-duration 6]
//                        [--pin auto|on|off] [--server-cpus 0] [--generator auto|wrk|node] [--json]
//                        [--cpu-prof DIR] [--heap-prof DIR] [--tmp DIR] [--pg-url URL]
//                        [--compare [LABEL=]DIR,…] [--variant [TARGET~]LABEL:NAME=VALUE,…]
//   --targets        also creddy-workers2 (`server --workers 2`; any creddy-workersN), creddy-pg
//                    and creddy-pg-workers2 (PostgreSQL: a throw-away database on --pg-url)
//   --duration S     measured seconds per target and connection level, cut into --rounds runs
//                    that alternate between targets (A B C, C B A, …) so outside load hits all
//   --pin            auto (default): servers on CPU 0 and the load generator on CPU 1 with
//                    taskset when it exists and there are ≥ 2 CPUs; off: all float (the
//                    generator then competes with the server for CPU: compare ratios only)
//   --server-cpus    the servers' CPUs when pinned (default 0; 0,1 = float over both, sharing
//                    the generator's CPU: what a second worker can get on a 2-CPU machine)
//   --generator      auto (default): wrk if installed (`apt-get install -y wrk`), else
//                    bench/load.mjs (node:http; needs a core of its own to keep up)
//   --jwks-duration  seconds for the JWKS phase (0 skips it)
//   --cpu-prof DIR   V8 CPU profiles of the creddy server (bench/profile-summary.mjs reads them)
//   --heap-prof DIR  V8 sampling heap profiles of the creddy server, garbage included (bytes
//                    allocated per function; profile-summary.mjs --requests N gives bytes per request)
//   --tmp DIR        where creddy's SQLite store lives (default: OS temp dir; /dev/shm = no fsync cost)
//   --pg-url URL     superuser URL on loopback for the creddy-pg targets
//   --compare DIR    also run the creddy built in checkout DIR (its dist/) as target "creddy@before"
//                    (or LABEL=DIR,… for several, "creddy@LABEL"): before/after within one run
//   --variant SPEC   the same target with other environment settings, e.g.
//                    's4:NODE_OPTIONS=--max-semi-space-size=4' (target creddy~s4) or
//                    'oidc-provider~post:BENCH_OIDC_AUTH=client_secret_post'; repeatable
//   The environment reaches the servers (e.g. CREDDY_AUDIT_SYNC=off for creddy).
//
// For each target: req/s, p50/p99, server CPU µs per request (utime+stime over the measured
// window, from /proc/PID/stat of every process of the target: all threads, the audit worker, a
// --workers primary and its workers, PostgreSQL backends), RSS under load (sampled every second,
// median and largest), and the share of the servers' CPUs used by other processes meanwhile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generate, have } from './lib/generator.mjs';
import { cpuMicrosOf, memoryMbOf, processTree } from './lib/proc.mjs';
import { mergedPercentile, ms } from './lib/stats.mjs';
import { deployEnv, pgDatabase, startBaseline, startCreddy, startOidcProvider, withBackends } from './lib/targets.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', short: 'c', default: process.env.BENCH_CONNECTIONS ?? '8,32,128' },
    duration: { type: 'string', short: 'd', default: process.env.BENCH_DURATION ?? '10' },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '2' },
    warmup: { type: 'string', short: 'w', default: process.env.BENCH_WARMUP ?? '3' },
    targets: { type: 'string', default: 'baseline,oidc-provider,creddy' },
    'jwks-duration': { type: 'string', default: '6' },
    pin: { type: 'string', default: 'auto' },
    generator: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'heap-prof': { type: 'string' },
    tmp: { type: 'string', default: tmpdir() },
    compare: { type: 'string' },
    'server-cpus': { type: 'string' },
    variant: { type: 'string', multiple: true, default: [] },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const header = readFileSync(import.meta.filename, 'utf8').split('\n');
  process.stdout.write(
    `${header
      .slice(
        0,
        header.findIndex((l) => !l.startsWith('//')),
      )
      .map((l) => l.slice(3))
      .join('\n')}\n`,
  );
  process.exit(0);
}
const levels = values.connections.split(',').map(Number);
const rounds = Number(values.rounds);
const perRun = Math.max(1, Math.round(Number(values.duration) / rounds));
const warmup = Number(values.warmup);
const jwksSeconds = Number(values['jwks-duration']);
const wanted = values.targets.split(',');
for (const n of [...levels, rounds]) if (!Number.isInteger(n) || n <= 0 || n > 10_000) throw new Error(`bad count: ${n}`);

const generator = values.generator === 'auto' ? (have('wrk') ? 'wrk' : 'node') : values.generator;
if (generator === 'wrk' && !have('wrk'))
  throw new Error('wrk is not installed: apt-get update && apt-get install -y wrk (or --generator node)');
const canPin = have('taskset') && cpus().length >= 2;
if (values.pin === 'on' && !canPin) throw new Error('--pin on needs taskset (util-linux) and at least 2 CPUs');
const pin = values.pin === 'on' || (values.pin === 'auto' && canPin);
// The servers' CPUs: CPU 0 unless --server-cpus says otherwise (e.g. 0,1: servers float over
// both CPUs, sharing CPU 1 with the generator: the only way a second worker gets a core here).
const SERVER_CPU = pin ? (values['server-cpus'] ?? '0') : undefined;
const LOAD_CPU = pin ? 1 : undefined;
const SERVER_CPUS = pin ? SERVER_CPU.split(',').map(Number) : [];
if (SERVER_CPUS.some((c) => !Number.isInteger(c) || c < 0 || c >= cpus().length))
  throw new Error(`--server-cpus: no such CPU in ${SERVER_CPU}`);
// Keep this orchestrating process off the servers' core too.
if (pin) execFileSync('taskset', ['-cp', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });

/** Busy and total jiffies of the CPUs `set` from /proc/stat: who else used the servers' cores. */
function coreTicks(set) {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  let busy = 0;
  let total = 0;
  for (const n of set) {
    const f = lines
      .find((l) => l.startsWith(`cpu${n} `))
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
    busy += all - f[3] - f[4];
    total += all;
  }
  // In CPU-seconds of one core, like the server's CPU time.
  return { busy: busy / set.length, total: total / set.length, cores: set.length };
}

/** CPU µs of each process of a target now (a --workers primary with its workers; PostgreSQL backends). */
async function cpuByPid(target) {
  const pids = await target.pids();
  return new Map(pids.map((p) => [p, cpuMicrosOf([p])]));
}

/** One generator run against `target` with its CPU, memory and core-0 accounting. */
async function measure(target, request, connections, seconds) {
  const core0 = pin ? coreTicks(SERVER_CPUS) : undefined;
  const cpu0 = await cpuByPid(target);
  const rssPids = async () => (target.rssPids ? target.rssPids() : target.pids());
  // RSS once a second under load (the servers' own, summed over a target's processes).
  const rssSamples = [];
  const sampler = setInterval(async () => rssSamples.push(memoryMbOf(await rssPids()).rss), 1000);
  const t0 = performance.now();
  const r = await generate({ generator, url: request.url, request, connections, seconds, cpu: LOAD_CPU }).finally(() =>
    clearInterval(sampler),
  );
  target.answered = (target.answered ?? 0) + r.requests;
  const cpu1 = await cpuByPid(target);
  // A process that started meanwhile counts from 0; one that ended has taken its time with it.
  let cpuUs = 0;
  for (const [p, us] of cpu1) cpuUs += us - (cpu0.get(p) ?? 0);
  const wall = (performance.now() - t0) / 1000;
  const mem = memoryMbOf(await rssPids());
  if (rssSamples.length === 0) rssSamples.push(mem.rss);
  let otherShare = null;
  if (core0) {
    const c = coreTicks(SERVER_CPUS);
    const busy = (c.busy - core0.busy) / Math.max(1, c.total - core0.total);
    // Shares of the servers' CPUs (of both, with --server-cpus 0,1: the generator's included).
    otherShare = Math.max(0, busy - cpuUs / 1e6 / wall / c.cores);
  }
  return {
    ...r,
    cpu_us: cpuUs,
    wall_s: wall,
    rss_mb: mem.rss,
    rss_samples_mb: rssSamples,
    hwm_mb: mem.hwm,
    processes: cpu1.size,
    other_share: otherShare,
  };
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[(sorted.length - 1) >> 1];
};

/** Merges the runs of one target at one level. */
function merge(runs) {
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const wall = runs.reduce((a, r) => a + r.wall_s, 0);
  const cpu = runs.reduce((a, r) => a + r.cpu_us, 0);
  const others = runs.map((r) => r.other_share).filter((x) => x !== null);
  return {
    rps: Math.round(requests / seconds),
    p50_ms: ms(mergedPercentile(runs, 50)),
    p90_ms: ms(mergedPercentile(runs, 90)),
    p99_ms: ms(mergedPercentile(runs, 99)),
    max_ms: ms(Math.max(...runs.map((r) => r.quantiles_us.at(-1)?.[1] ?? 0))),
    cpu_us_per_req: requests ? Math.round((cpu / requests) * 10) / 10 : null,
    server_cpu_share: Math.round((cpu / 1e6 / wall) * 1000) / 1000,
    // RSS under load: the median and the largest of the once-a-second samples of all rounds.
    rss_mb: median(runs.flatMap((r) => r.rss_samples_mb)),
    rss_max_mb: Math.max(...runs.flatMap((r) => r.rss_samples_mb)),
    rss_by_round_mb: runs.map((r) => median(r.rss_samples_mb)),
    rss_samples_mb: runs.flatMap((r) => r.rss_samples_mb),
    hwm_mb: Math.max(...runs.map((r) => r.hwm_mb)),
    other_on_server_cpu: others.length ? Math.round((others.reduce((a, b) => a + b, 0) / others.length) * 1000) / 1000 : null,
    processes: Math.max(...runs.map((r) => r.processes)),
    requests,
    errors: runs.reduce((a, r) => a + r.errors, 0),
    rps_by_round: runs.map((r) => Math.round(r.requests / r.seconds)),
    cpu_us_per_req_by_round: runs.map((r) => (r.requests ? Math.round((r.cpu_us / r.requests) * 10) / 10 : null)),
    other_on_server_cpu_by_round: runs.map((r) => (r.other_share === null ? null : Math.round(r.other_share * 1000) / 1000)),
  };
}

/** Runs `rounds` alternating runs of each [target, request] pair; returns merged results by label. */
async function interleaved(pairs, connections, seconds) {
  const runs = pairs.map(() => []);
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? pairs.map((_, j) => j) : pairs.map((_, j) => pairs.length - 1 - j);
    for (const j of order) runs[j].push(await measure(pairs[j][0], pairs[j][1], connections, seconds));
  }
  return pairs.map(([target, , label], j) => ({ target: label ?? target.label, ...merge(runs[j]) }));
}

// creddy runs with the runtime settings of deploy/creddy.service and the Dockerfile (NODE_OPTIONS,
// MALLOC_ARENA_MAX): the way it is deployed, not a setting of the bench's own.
const DEPLOY_ENV = deployEnv();
const ratio = (a, b) => (a !== null && b ? Math.round((a / b) * 100) / 100 : null);
const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
const dir = mkdtempSync(join(resolve(values.tmp), 'creddy-bench-'));
const servers = [];
const cleanups = [];
let result;
try {
  for (const name of wanted) {
    const common = { cpu: SERVER_CPU, dir: join(dir, name), cpuProf: values['cpu-prof'], heapProf: values['heap-prof'] };
    if (name === 'baseline') servers.push(await startBaseline(common));
    else if (name === 'oidc-provider') servers.push(await startOidcProvider(common));
    else {
      // creddy, creddy-workers2 (`server --workers 2`), creddy-pg, creddy-pg-workers2 (PostgreSQL).
      const m = /^creddy(-pg)?(?:-workers(\d+))?$/.exec(name);
      if (!m) throw new Error(`unknown target ${name}`);
      const pg = m[1] ? await pgDatabase(values['pg-url']) : undefined;
      if (pg) cleanups.push(pg.drop);
      const s = await startCreddy({ ...common, label: name, workers: Number(m[2] ?? 1), storeUrl: pg?.url, env: DEPLOY_ENV });
      servers.push(pg ? withBackends(s, pg, SERVER_CPU) : s);
    }
  }
  // Other builds of creddy, each its own target: LABEL=CHECKOUT or CHECKOUT (label creddy@before).
  for (const spec of values.compare?.split(',') ?? []) {
    const [label, root] = spec.includes('=') ? spec.split('=') : ['before', spec];
    servers.push(
      await startCreddy({
        cpu: SERVER_CPU,
        dir: join(dir, `creddy@${label}`),
        root: resolve(root),
        label: `creddy@${label}`,
        env: DEPLOY_ENV,
      }),
    );
  }
  // The same target with other settings, to weigh a knob in one interleaved run:
  // --variant '[TARGET~]LABEL:NAME=VALUE,NAME=VALUE' (e.g. 'semi8:NODE_OPTIONS=--max-semi-space-size=8'
  // or 'oidc-provider~post:BENCH_OIDC_AUTH=client_secret_post'), target TARGET~LABEL (TARGET is
  // creddy unless named). For creddy, NAME=VALUE replaces the deployment's setting of NAME, and a
  // variant without settings ('bare:') runs without the deployment's environment.
  for (const spec of values.variant) {
    const colon = spec.indexOf(':');
    if (colon <= 0) throw new Error(`--variant: expected [TARGET~]LABEL:NAME=VALUE,…, got ${spec}`);
    const label = spec.slice(0, colon).includes('~') ? spec.slice(0, colon) : `creddy~${spec.slice(0, colon)}`;
    const base = label.slice(0, label.indexOf('~'));
    const env = Object.fromEntries(
      spec
        .slice(colon + 1)
        .split(',')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const common = { cpu: SERVER_CPU, dir: join(dir, label), label };
    if (base === 'baseline') servers.push(await startBaseline({ ...common, env }));
    else if (base === 'oidc-provider') servers.push(await startOidcProvider({ ...common, env }));
    else if (base === 'creddy') {
      const bare = Object.fromEntries(Object.keys(DEPLOY_ENV).map((k) => [k, undefined]));
      servers.push(await startCreddy({ ...common, env: { ...bare, ...env } }));
    } else throw new Error(`--variant: no target ${base}`);
  }
  for (const s of servers) s.pids ??= () => processTree(s.pid);
  // Warm every target (JIT, SQLite page cache) before anything is recorded.
  for (const s of servers)
    if (warmup > 0)
      s.answered =
        (await generate({ generator, url: s.issue.url, request: s.issue, connections: levels[0], seconds: warmup, cpu: LOAD_CPU }))
          .requests + 1; // and the probe

  const issuance = [];
  for (const connections of levels) {
    const rows = await interleaved(
      servers.map((s) => [s, s.issue]),
      connections,
      perRun,
    );
    issuance.push({ connections, rows });
  }

  let jwks = null;
  const creddy = servers.find((s) => s.name === 'creddy');
  const baseline = servers.find((s) => s.name === 'baseline');
  if (jwksSeconds > 0 && creddy && baseline) {
    const jwksUrl = `${creddy.base}/.well-known/jwks.json`;
    const etag = (await fetch(jwksUrl)).headers.get('etag');
    const get = (url, extra = {}) => ({ url, method: 'GET', expect: extra.ifNoneMatch ? 304 : 200, ...extra });
    const pairs = [
      [baseline, get(`${baseline.base}/hello`), 'hono GET /hello'],
      [creddy, get(jwksUrl), 'creddy GET jwks 200'],
      [creddy, get(jwksUrl, { ifNoneMatch: etag }), 'creddy GET jwks 304'],
    ];
    const connections = 32;
    for (const [, r] of pairs) await generate({ generator, url: r.url, request: r, connections, seconds: 1, cpu: LOAD_CPU });
    jwks = { connections, rows: await interleaved(pairs, connections, Math.max(1, Math.round(jwksSeconds / rounds))) };
  }

  result = {
    machine: {
      nproc: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadavg_before: loadBefore,
      loadavg_after: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    settings: {
      generator,
      pinned: pin,
      server_cpus: SERVER_CPU ?? null,
      load_cpu: LOAD_CPU ?? null,
      deploy_env: DEPLOY_ENV,
      levels,
      rounds,
      seconds_per_run: perRun,
      warmup,
      store_dir: resolve(values.tmp),
    },
    shapes: Object.fromEntries(servers.map((s) => [s.name, s.shape])),
    // Every request each server answered, warm-up included (for --heap-prof: bytes per request).
    answered: Object.fromEntries(servers.map((s) => [s.name, s.answered ?? 0])),
    issuance,
    jwks,
  };
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  for (const c of cleanups) await c().catch((err) => process.stderr.write(`cleanup: ${err.message}\n`));
  rmSync(dir, { recursive: true, force: true });
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const { machine, settings } = result;
  const pct = (x) => (x === null ? '-' : `${Math.round(x * 100)}%`);
  const head = `${'target'.padEnd(24)}${'req/s'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'CPU µs/req'.padStart(12)}${'server CPU'.padStart(12)}${'RSS MB'.padStart(8)}${'max'.padStart(7)}${`others on cpu${pin ? SERVER_CPU : '0'}`.padStart(16)}${'errors'.padStart(8)}`;
  const line = (r) =>
    `${r.target.padEnd(24)}${String(r.rps).padStart(8)}${String(r.p50_ms).padStart(9)}${String(r.p99_ms).padStart(9)}${String(r.cpu_us_per_req).padStart(12)}${pct(r.server_cpu_share).padStart(12)}${String(r.rss_mb).padStart(8)}${String(r.rss_max_mb).padStart(7)}${pct(r.other_on_server_cpu).padStart(16)}${String(r.errors).padStart(8)}`;
  const vs = (a, b) =>
    a && b
      ? `${`${a.target} / ${b.target}`.padEnd(40)} req/s ${ratio(a.rps, b.rps)}×   p99 ${ratio(a.p99_ms, b.p99_ms)}×   CPU/req ${ratio(a.cpu_us_per_req, b.cpu_us_per_req)}×`
      : null;
  const out = [
    `issuance bench: ${settings.generator}, ${settings.pinned ? `pinned (servers on CPU ${settings.server_cpus}, generator on CPU ${settings.load_cpu})` : 'NOT pinned (generator competes with the server)'}, ${settings.rounds} rounds × ${settings.seconds_per_run} s per target per level after ${settings.warmup} s warm-up`,
    `machine: ${machine.nproc} CPUs (${machine.cpu}), node ${machine.node}, load average before ${machine.loadavg_before.join(' ')}, after ${machine.loadavg_after.join(' ')}`,
    `creddy: generic backend, SQLite store in ${settings.store_dir}, durable audit unless CREDDY_AUDIT_SYNC=off; environment as deployed (deploy/creddy.service, Dockerfile): ${
      Object.entries(settings.deploy_env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'none'
    }`,
  ];
  for (const { connections, rows } of result.issuance) {
    const by = Object.fromEntries(rows.map((r) => [r.target, r]));
    out.push('', `${connections} connections`, head, ...rows.map(line));
    const others = rows.filter((r) => r.target !== 'creddy' && r.target.startsWith('creddy'));
    // Another build: creddy / it (after / before); another topology or setting: it / creddy.
    const against = others.map((o) => (o.target.startsWith('creddy@') ? vs(by.creddy, o) : vs(o, by.creddy)));
    // oidc-provider as configured otherwise (--variant oidc-provider~…): against the baseline.
    const providers = rows.filter((r) => r.target.startsWith('oidc-provider')).map((o) => vs(o, by['baseline (hono)']));
    for (const cmp of [vs(by.creddy, by['baseline (hono)']), vs(by.creddy, by['oidc-provider']), ...against, ...providers])
      if (cmp) out.push(cmp);
    if (rounds > 2) for (const r of rows) out.push(`${r.target} RSS MB, median of each round: ${r.rss_by_round_mb.join(' ')}`);
  }
  if (values['heap-prof'])
    out.push('', `requests answered (warm-up included; profile-summary.mjs --requests): ${JSON.stringify(result.answered)}`);
  if (result.jwks) {
    const [hello, ok, notModified] = result.jwks.rows;
    out.push('', `JWKS: GET answered from memory, ${result.jwks.connections} connections`, head, ...result.jwks.rows.map(line));
    out.push(`creddy jwks 200 / hono hello: req/s ${ratio(ok.rps, hello.rps)}×; 304: ${ratio(notModified.rps, hello.rps)}×`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
const errors = [...result.issuance.flatMap((l) => l.rows), ...(result.jwks?.rows ?? [])].reduce((a, r) => a + r.errors, 0);
if (errors > 0) process.exitCode = 1;
