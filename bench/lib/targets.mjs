// The servers bench/issue.mjs measures, each its own process (pinned to one CPU when asked):
// creddy (the built dist, real SQLite store, durable audit), the bare hono + sign baseline, and
// oidc-provider (a general OAuth server doing client_credentials with an EdDSA at+jwt).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pinned } from './generator.mjs';
import { processTree as processTreeOf } from './proc.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const START_TIMEOUT_MS = 20_000;
/**
 * The benchmark's creddy config: one generic backend `demo`, data in `dir/data`, the store at
 * `storeUrl` (PostgreSQL) or SQLite, and `extra` top-level YAML for experiments
 * (BENCH_CREDDY_YAML, e.g. $'audit:\n  checkpoint_every: 100').
 */
export function benchConfigYaml(dir, storeUrl, extra) {
  return [
    'issuer: http://127.0.0.1:8400',
    'listen: 127.0.0.1:0',
    `data_dir: ${join(dir, 'data')}`,
    ...(storeUrl ? [`store: ${storeUrl}`] : []),
    'backends:',
    '  demo:',
    '    type: generic',
    '    audience: demo',
    '    default_ttl: 15m',
    '    max_ttl: 1h',
    '    allowed_scopes: [read, write]',
    '    default_scopes: [read]',
    ...(extra ? [extra] : []),
    '',
  ].join('\n');
}

/** The issue request of creddy and the baseline: the same JSON body. */
export const ISSUE_BODY = JSON.stringify({ backend: 'demo', scopes: ['read'], ttl: '5m' });

/**
 * Spawns a server; resolves its URL from the first stdout line matching `pattern`. `stop()`
 * sends SIGTERM and SIGKILLs after `killAfterMs` (a draining creddy may take a while).
 */
export function startChild(name, argv, env, pattern, { startTimeoutMs = START_TIMEOUT_MS, killAfterMs = 15_000 } = {}) {
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  // Keep only the tail: enough to explain a failure, never an unbounded buffer.
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${startTimeoutMs} ms\n${stderr}`)), startTimeoutMs);
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
      const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.once('exit', () => {
        clearTimeout(kill);
        done();
      });
      child.kill('SIGTERM');
    });
  // `taskset -c N node …` execs node: the pid is the server's own.
  return { pid: child.pid, url, stop, stderr: () => stderr };
}

/** One request outside the measurement: proves the target answers with a real JWT (or any token, `jwt` false). */
async function probe(url, request, tokenField, jwt = true) {
  const res = await fetch(url, {
    method: request.method,
    headers: { 'content-type': request.contentType, ...(request.authorization ? { authorization: request.authorization } : {}) },
    body: request.body,
  });
  const body = await res.json();
  const token = body[tokenField];
  if (res.status !== request.expect || typeof token !== 'string' || (jwt && token.split('.').length !== 3)) {
    throw new Error(`probe of ${url} failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return { token_bytes: token.length, response_bytes: JSON.stringify(body).length };
}

/** The bare hono + node:crypto sign floor (bench/baseline.mjs); also serves `GET /hello`. */
export async function startBaseline({ cpu, label = 'baseline (hono)', env = {} }) {
  const s = startChild(
    'baseline',
    [...pinned(cpu), process.execPath, join(ROOT, 'bench', 'baseline.mjs'), '--listen', '127.0.0.1:0'],
    { ...process.env, ...env },
    /baseline listening on (\S+)/,
  );
  const base = await s.url;
  const issue = { url: `${base}/v1/credentials`, method: 'POST', body: ISSUE_BODY, contentType: 'application/json', expect: 201 };
  return {
    ...s,
    name: label === 'baseline (hono)' ? 'baseline' : label,
    label,
    base,
    issue,
    shape: await probe(issue.url, issue, 'token'),
  };
}

/**
 * oidc-provider, client_credentials (bench/oidc-provider.mjs): client_secret_basic unless `env`
 * says BENCH_OIDC_AUTH=client_secret_post (the secret in the form instead of the header).
 */
export async function startOidcProvider({ cpu, label = 'oidc-provider', env = {} }) {
  const secret = randomBytes(24).toString('base64url');
  const s = startChild(
    'oidc-provider',
    [...pinned(cpu), process.execPath, join(ROOT, 'bench', 'oidc-provider.mjs'), '--listen', '127.0.0.1:0'],
    { ...process.env, ...env, BENCH_OIDC_SECRET: secret },
    /oidc-provider listening on (\S+)/,
  );
  const base = await s.url;
  const post = (env.BENCH_OIDC_AUTH ?? process.env.BENCH_OIDC_AUTH) === 'client_secret_post';
  const issue = {
    url: `${base}/token`,
    method: 'POST',
    body: `grant_type=client_credentials&scope=read${post ? `&client_id=bench&client_secret=${secret}` : ''}`,
    contentType: 'application/x-www-form-urlencoded',
    ...(post ? {} : { authorization: `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}` }),
    expect: 200,
  };
  const opaque = (env.BENCH_OIDC_FORMAT ?? process.env.BENCH_OIDC_FORMAT) === 'opaque';
  return { ...s, name: label, label, base, issue, shape: await probe(issue.url, issue, 'access_token', !opaque) };
}

/**
 * creddy from dist/ on a fresh config and store under `dir` (one generic backend `demo`, random
 * KEK and audit key), with an agent made through the CLI before the server starts, run as
 * `creddy server` (`--workers N` when `workers` > 1). `root` is the checkout whose dist/ runs
 * (another build of creddy for a before/after run). `storeUrl` is a PostgreSQL database
 * (created, empty) instead of SQLite in `dir`. `env` adds to the server's environment (the
 * deployment's, or a knob being measured).
 */
export async function startCreddy({
  cpu,
  dir,
  cpuProf,
  heapProf,
  root = ROOT,
  label = 'creddy',
  workers = 1,
  storeUrl,
  env: extraEnv = {},
}) {
  const CLI = join(root, 'dist', 'main.js');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, benchConfigYaml(dir, storeUrl, process.env.BENCH_CREDDY_YAML), { mode: 0o600 });
  const env = {
    ...process.env,
    ...extraEnv,
    CREDDY_KEK: randomBytes(32).toString('hex'),
    CREDDY_AUDIT_KEY: randomBytes(32).toString('hex'),
  };
  const cli = (...args) => execFileSync(process.execPath, [CLI, ...args, '--config', configPath], { env, cwd: ROOT, encoding: 'utf8' });
  if (storeUrl) cli('store', 'migrate');
  const created = JSON.parse(cli('agent', 'create', 'bench', '--can', 'demo:read', '--json'));
  const nodeFlags = [
    ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProf)}`] : []),
    ...(heapProf ? ['--import', join(ROOT, 'bench', 'lib', 'heap-sampler.mjs')] : []),
  ];
  if (heapProf) env.BENCH_HEAP_PROF_DIR = resolve(heapProf);
  const s = startChild(
    label,
    [
      ...pinned(cpu),
      process.execPath,
      ...nodeFlags,
      CLI,
      'server',
      '--config',
      configPath,
      '--listen',
      '127.0.0.1:0',
      ...(workers > 1 ? ['--workers', String(workers)] : []),
    ],
    env,
    /creddy listening on (\S+)/,
    { startTimeoutMs: 30_000, killAfterMs: 30_000 },
  );
  const base = await s.url;
  const issue = {
    url: `${base}/v1/credentials`,
    method: 'POST',
    body: ISSUE_BODY,
    contentType: 'application/json',
    authorization: `Bearer ${created.token}`,
    expect: 201,
  };
  return { ...s, name: label, label, base, issue, cli, workers, shape: await probe(issue.url, issue, 'token') };
}

/** A throw-away PostgreSQL database on the loopback superuser URL `adminUrl`; `drop()` removes it. */
export async function pgDatabase(adminUrl) {
  const admin = new URL(adminUrl);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(admin.hostname)) throw new Error('--pg-url must be on loopback');
  const { default: pg } = await import('pg');
  const query = async (sql, params) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  const name = `creddy_bench_${randomBytes(4).toString('hex')}`;
  await query(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    /** Pids of the PostgreSQL backends serving this database's connections. */
    backends: async () =>
      (await query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", [name])).map((r) => r.pid),
    drop: () => query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * A creddy target on PostgreSQL whose CPU accounting includes the backends serving its
 * connections (the database does the store's work), pinned to the servers' CPUs like creddy
 * itself when `cpu` is set. PostgreSQL's shared processes (WAL writer, checkpointer) are not
 * counted; RSS is creddy's own (a backend's RSS is mostly shared buffers).
 */
export function withBackends(target, pg, cpu) {
  const tree = () => processTreeOf(target.pid);
  return {
    ...target,
    rssPids: async () => tree(),
    pids: async () => {
      const backends = await pg.backends();
      if (cpu !== undefined) for (const b of backends) execFileSync('taskset', ['-cp', String(cpu), String(b)], { stdio: 'ignore' });
      return [...tree(), ...backends];
    },
  };
}

/**
 * The runtime settings creddy is deployed with: every `Environment=NAME=VALUE` of
 * deploy/creddy.service that is not creddy's own configuration (CREDDY_*), e.g. NODE_OPTIONS.
 * The Dockerfile sets the same (test/cli/deploy-tuning.test.ts keeps them equal), so the bench
 * runs creddy the way both deployments do, not with settings of its own.
 */
export function deployEnv(root = ROOT) {
  const unit = readFileSync(join(root, 'deploy', 'creddy.service'), 'utf8');
  const env = {};
  for (const [, name, value] of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    if (!name.startsWith('CREDDY_')) env[name] = value.replace(/^"(.*)"$/, '$1');
  }
  return env;
}
