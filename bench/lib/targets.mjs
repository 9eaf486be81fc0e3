// The servers bench/issue.mjs measures, each its own process (pinned to one CPU when asked):
// creddy (the built dist, real SQLite store, durable audit), the bare hono + sign baseline, and
// oidc-provider (a general OAuth server doing client_credentials with an EdDSA at+jwt).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pinned } from './generator.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const START_TIMEOUT_MS = 20_000;
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

/** One request outside the measurement: proves the target answers with a real JWT. */
async function probe(url, request, tokenField) {
  const res = await fetch(url, {
    method: request.method,
    headers: { 'content-type': request.contentType, ...(request.authorization ? { authorization: request.authorization } : {}) },
    body: request.body,
  });
  const body = await res.json();
  const token = body[tokenField];
  if (res.status !== request.expect || typeof token !== 'string' || token.split('.').length !== 3) {
    throw new Error(`probe of ${url} failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return { token_bytes: token.length, response_bytes: JSON.stringify(body).length };
}

/** The bare hono + node:crypto sign floor (bench/baseline.mjs); also serves `GET /hello`. */
export async function startBaseline({ cpu }) {
  const s = startChild(
    'baseline',
    [...pinned(cpu), process.execPath, join(ROOT, 'bench', 'baseline.mjs'), '--listen', '127.0.0.1:0'],
    process.env,
    /baseline listening on (\S+)/,
  );
  const base = await s.url;
  const issue = { url: `${base}/v1/credentials`, method: 'POST', body: ISSUE_BODY, contentType: 'application/json', expect: 201 };
  return { ...s, name: 'baseline', label: 'baseline (hono)', base, issue, shape: await probe(issue.url, issue, 'token') };
}

/** oidc-provider, client_credentials with client_secret_basic (bench/oidc-provider.mjs). */
export async function startOidcProvider({ cpu }) {
  const secret = randomBytes(24).toString('base64url');
  const s = startChild(
    'oidc-provider',
    [...pinned(cpu), process.execPath, join(ROOT, 'bench', 'oidc-provider.mjs'), '--listen', '127.0.0.1:0'],
    { ...process.env, BENCH_OIDC_SECRET: secret },
    /oidc-provider listening on (\S+)/,
  );
  const base = await s.url;
  const issue = {
    url: `${base}/token`,
    method: 'POST',
    body: 'grant_type=client_credentials&scope=read',
    contentType: 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}`,
    expect: 200,
  };
  return { ...s, name: 'oidc-provider', label: 'oidc-provider', base, issue, shape: await probe(issue.url, issue, 'access_token') };
}

/**
 * creddy from dist/ on a fresh config and SQLite store under `dir` (one generic backend `demo`,
 * random KEK and audit key), with an agent made through the CLI before the server starts.
 * `root` is the checkout whose dist/ runs (another build of creddy for a before/after run).
 */
export async function startCreddy({ cpu, dir, cpuProf, root = ROOT, label = 'creddy' }) {
  const CLI = join(root, 'dist', 'main.js');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(
    configPath,
    [
      'issuer: http://127.0.0.1:8400',
      'listen: 127.0.0.1:0',
      `data_dir: ${join(dir, 'data')}`,
      'backends:',
      '  demo:',
      '    type: generic',
      '    audience: demo',
      '    default_ttl: 15m',
      '    max_ttl: 1h',
      '    allowed_scopes: [read, write]',
      '    default_scopes: [read]',
      // Experiments: extra top-level config, e.g. BENCH_CREDDY_YAML=$'audit:\n  checkpoint_every: 100'.
      ...(process.env.BENCH_CREDDY_YAML ? [process.env.BENCH_CREDDY_YAML] : []),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const env = { ...process.env, CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') };
  const cli = (...args) => execFileSync(process.execPath, [CLI, ...args, '--config', configPath], { env, cwd: ROOT, encoding: 'utf8' });
  const created = JSON.parse(cli('agent', 'create', 'bench', '--can', 'demo:read', '--json'));
  const nodeFlags = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProf)}`] : [];
  const s = startChild(
    'creddy',
    [...pinned(cpu), process.execPath, ...nodeFlags, CLI, 'server', '--config', configPath, '--listen', '127.0.0.1:0'],
    env,
    /creddy listening on (\S+)/,
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
  return { ...s, name: label, label, base, issue, cli, shape: await probe(issue.url, issue, 'token') };
}
