// Process plumbing for bench/replicas.mjs: start a creddy target (one process, `--workers N`, or N
// replicas on one PostgreSQL database), drive it with bench/load.mjs, merge the results.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchConfigYaml, ISSUE_BODY, startChild } from './lib/targets.mjs';

const START_TIMEOUT_MS = 30_000;

/** A `creddy server` process; the same plumbing as bench/issue.mjs's targets. */
const spawnServer = (cli, args, env, name) =>
  startChild(name, [process.execPath, cli, 'server', ...args], env, /creddy listening on (\S+)/, {
    startTimeoutMs: START_TIMEOUT_MS,
    killAfterMs: 30_000,
  });

/**
 * Starts one target in `dir`: `mode` is `single` (one process), `workers` (`server --workers
 * count`) or `replicas` (count processes, one port each). `storeUrl` selects PostgreSQL (the
 * database must exist; it is migrated here), else SQLite in `dir`.
 */
export async function startCreddy({ name, dir, storeUrl, mode, count, cli, root }) {
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, benchConfigYaml(dir, storeUrl), { mode: 0o600 });
  const env = { ...process.env, CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') };
  const run = (...args) => execFileSync(process.execPath, [cli, ...args, '--config', configPath], { env, cwd: root, encoding: 'utf8' });
  if (storeUrl) run('store', 'migrate');
  const createAgent = (agent) => JSON.parse(run('agent', 'create', agent, '--can', 'demo:read', '--json')).token;
  const token = createAgent('bench');
  const servers =
    mode === 'replicas'
      ? Array.from({ length: count }, (_, i) => spawnServer(cli, ['--config', configPath], env, `${name} #${i}`))
      : [spawnServer(cli, ['--config', configPath, ...(mode === 'workers' ? ['--workers', String(count)] : [])], env, name)];
  let urls;
  try {
    urls = await Promise.all(servers.map((s) => s.url));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return {
    name,
    urls,
    token,
    processes: mode === 'single' ? 1 : count,
    createAgent,
    /** Services of an operator command in this process, for timed CLI-path changes. */
    async inProcess() {
      const dist = (p) => import(join(root, 'dist', p));
      const [{ loadConfig }, { createServices }, { rotateKeys }, { revokeAgent }] = await Promise.all([
        dist('config/load.js'),
        dist('services.js'),
        dist('keys/rotate.js'),
        dist('agents/revoke.js'),
      ]);
      const quiet = { info() {}, warn() {}, error: (msg) => process.stderr.write(`${name}: ${msg}\n`) };
      const services = await createServices(loadConfig(configPath, env), { env, logger: quiet, actor: 'cli' });
      return { services, rotateKeys, revokeAgent };
    },
    stop: () => Promise.all(servers.map((s) => s.stop())),
  };
}

function loadOne(root, url, token, connections, seconds, warmup) {
  const args = [join(root, 'load.mjs'), '--url', `${url}/v1/credentials`, '--body', ISSUE_BODY, '--raw'];
  args.push('--connections', String(connections), '--duration', String(seconds), '--warmup', String(warmup));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, LOAD_TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    const limit = setTimeout(() => child.kill('SIGKILL'), (warmup + seconds + 30) * 1000);
    child.once('close', (code) => {
      clearTimeout(limit);
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out));
    });
  });
}

/**
 * One slice of closed-loop load on `target`: `connections` in all, split across its URLs (one
 * bench/load.mjs per URL, run at once), merged into one result.
 */
export async function load(target, connections, seconds, warmup) {
  const { urls } = target;
  const parts = await Promise.all(
    urls.map((url, i) =>
      loadOne(
        import.meta.dirname,
        url,
        target.token,
        Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0),
        seconds,
        warmup,
      ),
    ),
  );
  const statuses = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    latencies_ms: parts.flatMap((p) => p.latencies_ms),
    seconds: Math.max(...parts.map((p) => p.seconds)),
    errors: parts.reduce((a, p) => a + p.errors, 0),
    statuses,
  };
}

/** Totals and percentiles over every recorded request of a target's slices. */
export function merge(slices) {
  const latencies = slices.flatMap((s) => s.latencies_ms).sort((a, b) => a - b);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  const statuses = {};
  for (const s of slices) for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
  return {
    rps: Math.round((latencies.length / seconds) * 10) / 10,
    p50_ms: pct(50),
    p99_ms: pct(99),
    max_ms: latencies.at(-1) ?? null,
    requests: latencies.length,
    errors: slices.reduce((a, s) => a + s.errors, 0),
    statuses,
    slices_rps: slices.map((s) => Math.round((s.latencies_ms.length / s.seconds) * 10) / 10),
  };
}
