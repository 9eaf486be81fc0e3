// Audit durability: issuance rate with the audit log fsynced on every commit (synchronous=FULL,
// the default) against the same server with CREDDY_AUDIT_SYNC=off (no fsync; honoured only by
// src/audit/setup.ts, logged as INSECURE, for this benchmark). With group commit the two
// should be within a few percent: concurrent requests share one durable transaction.
//
//   node bench/audit.mjs [--connections 16] [--duration 10] [--warmup 2] [--rounds 2] [--tmp DIR] [--json]
//
// The store lives in --tmp (default: this checkout's bench/.tmp, on a real disk — not tmpfs,
// where fsync is free and the comparison would prove nothing). Each run: fresh data dir, start
// `creddy server` (built dist), create an agent, drive POST /v1/credentials with bench/load.mjs
// (node:http keep-alive, its own process), stop. Modes alternate per round to spread drift.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchConfigYaml, ISSUE_BODY } from './lib/targets.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'main.js');

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    tmp: { type: 'string', default: join(ROOT, 'bench', '.tmp') },
    json: { type: 'boolean', default: false },
  },
});
const settings = {
  connections: Number(values.connections),
  duration: Number(values.duration),
  warmup: Number(values.warmup),
  rounds: Number(values.rounds),
};

function startServer(configPath, env) {
  const child = spawn(process.execPath, [CLI, 'server', '--config', configPath], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = /creddy listening on (\S+)/.exec(out);
      if (m) res(m[1]);
    });
    child.once('exit', (code) => rej(new Error(`server exited ${code}\n${stderr}`)));
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
  return { url, stop };
}

function load(url, token) {
  const args = [
    join(ROOT, 'bench', 'load.mjs'),
    '--url',
    `${url}/v1/credentials`,
    '--body',
    ISSUE_BODY,
    '--connections',
    String(settings.connections),
    '--duration',
    String(settings.duration),
    '--warmup',
    String(settings.warmup),
  ];
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, LOAD_TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`load exited ${code}`))));
  });
}

async function run(mode) {
  mkdirSync(values.tmp, { recursive: true });
  const dir = mkdtempSync(join(values.tmp, `audit-${mode}-`));
  try {
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, benchConfigYaml(dir), { mode: 0o600 });
    const env = { ...process.env, CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') };
    if (mode === 'off') env.CREDDY_AUDIT_SYNC = 'off';
    else delete env.CREDDY_AUDIT_SYNC;
    const { token } = JSON.parse(
      execFileSync(process.execPath, [CLI, 'agent', 'create', 'bench', '--can', 'demo:read', '--config', configPath, '--json'], {
        env,
        encoding: 'utf8',
      }),
    );
    const server = startServer(configPath, env);
    try {
      return { mode, ...(await load(await server.url, token)) };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (let round = 0; round < settings.rounds; round++) {
  for (const mode of round % 2 === 0 ? ['full', 'off'] : ['off', 'full']) {
    const r = await run(mode);
    results.push(r);
    process.stderr.write(
      `round ${round + 1} ${mode.padEnd(4)}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, errors ${r.errors}\n`,
    );
  }
}
// Leave no empty bench/.tmp behind.
try {
  rmdirSync(values.tmp); // only when empty
} catch {}
const summary = (mode) => {
  const rs = results.filter((r) => r.mode === mode);
  const mean = (k) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
  return {
    rps: Math.round(mean('rps')),
    p50_ms: +mean('p50_ms').toFixed(2),
    p99_ms: +mean('p99_ms').toFixed(2),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  };
};
const full = summary('full');
const off = summary('off');
const out = {
  settings,
  cpus: cpus().length,
  node: process.version,
  durable: full,
  non_durable: off,
  durable_vs_off: +(full.rps / off.rps).toFixed(3),
};
if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  process.stdout.write(`synchronous=FULL (durable): ${full.rps} req/s  p50 ${full.p50_ms} ms  p99 ${full.p99_ms} ms\n`);
  process.stdout.write(`CREDDY_AUDIT_SYNC=off     : ${off.rps} req/s  p50 ${off.p50_ms} ms  p99 ${off.p99_ms} ms\n`);
  process.stdout.write(`durable / non-durable     : ${(out.durable_vs_off * 100).toFixed(1)}%\n`);
}
