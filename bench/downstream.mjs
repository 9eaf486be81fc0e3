// End-to-end latency of one downstream issuance: POST /v1/credentials on a creddy server (built
// dist, its own process, real SQLite store and audit log) that mints a GitHub App installation
// token at the loopback fake GitHub, or assumes a role at the loopback fake STS through the AWS
// SDK. Sequential requests, one at a time: this is latency, not throughput (bench/issue.mjs).
//
//   npm run build && node bench/downstream.mjs [--n 50] [--warmup 5] [--json]
//
// The fakes are TypeScript (test/fakes); they are compiled into node_modules/.cache so their
// imports (jose) resolve, and run in this process. Fake work (RS256 JWT check, SigV4 check) is
// part of what is measured, as real GitHub/STS would add their own, larger, network latency.
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'main.js');
const { values } = parseArgs({
  options: { n: { type: 'string', default: '50' }, warmup: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } },
});
const N = Number(values.n);
const WARMUP = Number(values.warmup);

const fakesOut = join(ROOT, 'node_modules', '.cache', 'creddy-bench-fakes');
execFileSync(
  process.execPath,
  [
    join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '--outDir',
    fakesOut,
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--strict',
    '--skipLibCheck',
    '--types',
    'node',
    join(ROOT, 'test/fakes/github.ts'),
    join(ROOT, 'test/fakes/sts.ts'),
  ],
  { stdio: 'inherit' },
);
const { startFakeGitHub } = await import(pathToFileURL(join(fakesOut, 'github.js')).href);
const { startFakeSts } = await import(pathToFileURL(join(fakesOut, 'sts.js')).href);

const app = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const BASE = { accessKeyId: 'AKIAFAKEBASE0000BNCH', secretAccessKey: 'bench/secret/key+0123456789abcdefghijklm' };
const ROLE = 'arn:aws:iam::111122223333:role/agents';
const gh = await startFakeGitHub({
  appId: 1,
  appPublicKeyPem: app.publicKey,
  installations: [{ id: 7, account: 'acme', repositories: ['acme/widgets'], permissions: { contents: 'write', metadata: 'read' } }],
});
const sts = await startFakeSts({ credentials: [BASE], roles: [{ arn: ROLE }] });

const dir = mkdtempSync(join(tmpdir(), 'creddy-bench-downstream-'));
writeFileSync(join(dir, 'app.pem'), app.privateKey, { mode: 0o600 });
const config = join(dir, 'creddy.yaml');
writeFileSync(
  config,
  `issuer: http://127.0.0.1:8400
listen: 127.0.0.1:0
data_dir: ${join(dir, 'data')}
backends:
  gh:
    type: github
    app_id: 1
    private_key: \${file:${join(dir, 'app.pem')}}
    installation_id: 7
    base_url: ${gh.url}
    allowed_scopes: ["contents:read"]
  aws:
    type: aws
    role_arn: ${ROLE}
    endpoint: ${sts.url}
    allowed_scopes: ["s3:GetObject"]
  demo:
    type: generic
    allowed_scopes: [read]
`,
);
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  CREDDY_KEK: randomBytes(32).toString('hex'),
  CREDDY_AUDIT_KEY: randomBytes(32).toString('hex'),
  AWS_ACCESS_KEY_ID: BASE.accessKeyId,
  AWS_SECRET_ACCESS_KEY: BASE.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
};
const agent = JSON.parse(
  execFileSync(
    process.execPath,
    [CLI, 'agent', 'create', 'bench', '--can', 'gh:contents:read,aws:s3:GetObject,demo:read', '--json', '--config', config],
    { env, encoding: 'utf8' },
  ),
);

const server = spawn(process.execPath, [CLI, 'server', '--config', config], { env, stdio: ['ignore', 'pipe', 'ignore'] });
const url = await new Promise((resolvePromise, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /creddy listening on (\S+)/.exec(out);
    if (m) resolvePromise(m[1]);
  });
  server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
});

async function once(body) {
  const start = performance.now();
  const res = await fetch(`${url}/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  const ms = performance.now() - start;
  if (res.status !== 201) throw new Error(`issue failed: ${res.status}`);
  return ms;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const results = {};
try {
  for (const [name, body] of [
    ['generic', { backend: 'demo', scopes: ['read'] }],
    ['github', { backend: 'gh', scopes: ['contents:read'] }],
    ['aws', { backend: 'aws', scopes: ['s3:GetObject'] }],
  ]) {
    for (let i = 0; i < WARMUP; i++) await once(body); // first use loads the SDK and looks up the installation
    const times = [];
    for (let i = 0; i < N; i++) times.push(await once(body));
    times.sort((a, b) => a - b);
    results[name] = { n: N, p50_ms: +pct(times, 50).toFixed(2), p90_ms: +pct(times, 90).toFixed(2), max_ms: +times.at(-1).toFixed(2) };
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await gh.close();
  await sts.close();
  rmSync(dir, { recursive: true, force: true });
}
if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
else
  for (const [name, r] of Object.entries(results))
    process.stdout.write(`${name.padEnd(8)} n=${r.n}  p50 ${r.p50_ms} ms  p90 ${r.p90_ms} ms  max ${r.max_ms} ms\n`);
