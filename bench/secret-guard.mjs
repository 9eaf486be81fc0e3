// What the audit state guard costs a read from a `type: secret` backend (issue 15):
//  1. the check alone (audit/secret-facts.ts secretReadProblem), in-process, against a log of
//     --paths secret paths each created and rotated: one exact path (current + previous within
//     its grace), and a wildcard covering 10 of them (a pass over every path of the log);
//  2. end to end: POST /v1/credentials for one secret path on a server from the built dist (real
//     SQLite store, audit worker), sequential, in rounds alternating the guard on and off (off =
//     the store read alone), so both see the same machine state.
//
//   npm run build && node bench/secret-guard.mjs [--paths 1000] [--n 400] [--rounds 6] [--json]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const dist = (path) => import(join(ROOT, 'dist', path));
const { applySecretFact, secretReadProblem } = await dist('audit/secret-facts.js');
const { loadConfig } = await dist('config/load.js');
const { createServices } = await dist('services.js');
const { startServer } = await dist('http/server.js');
const { createAgent } = await dist('agents/create.js');
const { parseGrants } = await dist('agents/grants.js');
const { putSecret, rotateSecret } = await dist('secrets/write.js');

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: '1000' },
    n: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '6' },
    json: { type: 'boolean', default: false },
  },
});
const PATHS = Number(values.paths);
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// 1. The check alone.
const T = 1_700_000_000;
const secrets = new Map();
const row = (type, details) => ({ type, details });
for (let i = 0; i < PATHS; i++) {
  const path = `app/s${String(i).padStart(5, '0')}`;
  applySecretFact(secrets, row('secret.created', { path, version: 1, generated: false, sealed_sha256: 'x' }));
  applySecretFact(
    secrets,
    row('secret.rotated', {
      path,
      version: 2,
      generated: false,
      sealed_sha256: 'y',
      previous_version: 1,
      previous_readable_until: T + 3600,
    }),
  );
}
const record = (path, version) => ({
  id: `${path}/${version}`,
  path,
  version,
  sealed: Buffer.alloc(60),
  kekId: 'k',
  createdAt: T + version,
  createdBy: 'cli',
  generated: false,
  supersededAt: version === 1 ? T + 2 : null,
  readableUntil: version === 1 ? T + 3600 : null,
  deletedAt: null,
});
const exact = { selector: { paths: ['app/s00042'], prefixes: [] }, records: [record('app/s00042', 2), record('app/s00042', 1)] };
const tenPaths = Array.from({ length: 10 }, (_, i) => `app/s0001${i}`);
const wildcard = { selector: { paths: [], prefixes: ['app/s0001'] }, records: tenPaths.flatMap((p) => [record(p, 2), record(p, 1)]) };
/** µs per check: the fastest of 10 batches (the machine's other load only ever adds). */
function timeCheck({ selector, records }) {
  const iterations = 20_000;
  let best = Number.POSITIVE_INFINITY;
  for (let batch = 0; batch < 10; batch++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      if (secretReadProblem(secrets, selector, records, Number.NEGATIVE_INFINITY)) throw new Error('unexpected problem');
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations / 1000);
  }
  return best;
}
const check = { exact_us: +timeCheck(exact).toFixed(2), wildcard_10_of_log_us: +timeCheck(wildcard).toFixed(2) };

// 2. End to end.
const dir = mkdtempSync(join(tmpdir(), 'creddy-bench-secret-guard-'));
const configPath = join(dir, 'creddy.yaml');
writeFileSync(
  configPath,
  `issuer: http://127.0.0.1:8400
listen: 127.0.0.1:0
data_dir: ${join(dir, 'data')}
backends:
  vault:
    type: secret
    allowed_scopes: ["app/*"]
    grace: 1h
`,
);
const env = { CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') };
const quiet = { info() {}, warn() {}, error() {} };
const services = await createServices(loadConfig(configPath, env), { env, logger: quiet, actor: 'server' });
const server = await startServer(services, { host: '127.0.0.1', port: 0 });
const endToEnd = {};
try {
  for (let i = 0; i < 20; i++) {
    await putSecret(services, { path: `app/s${i}`, value: randomBytes(24).toString('base64url'), generated: true, actor: 'cli' });
  }
  await rotateSecret(services, { path: 'app/s7', value: randomBytes(24).toString('base64url'), generated: true, actor: 'cli' });
  const { token } = await createAgent(services, {
    name: 'bench',
    grants: parseGrants('vault:app/*', services),
    ttlSeconds: null,
    actor: 'cli',
  });
  await services.stateGuard.refresh();
  const guarded = services.stateGuard.readSecrets;
  const once = async () => {
    const start = performance.now();
    const res = await fetch(`${server.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'vault', scopes: ['app/s7'] }),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`issue failed: ${res.status}`);
    return performance.now() - start;
  };
  const times = { guard: [], none: [] };
  for (let i = 0; i < 50; i++) await once();
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0 ? ['guard', 'none'] : ['none', 'guard']) {
      services.stateGuard.readSecrets = mode === 'guard' ? guarded : (_selector, read) => read();
      for (let i = 0; i < N; i++) times[mode].push(await once());
    }
  }
  for (const [mode, list] of Object.entries(times)) {
    list.sort((a, b) => a - b);
    endToEnd[mode] = { n: list.length, p50_ms: +pct(list, 50).toFixed(3), p90_ms: +pct(list, 90).toFixed(3) };
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const result = { paths_in_log: PATHS, check, end_to_end: endToEnd };
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(
    `check alone (${PATHS} paths in the log): one exact path ${check.exact_us} µs; a wildcard over 10 ${check.wildcard_10_of_log_us} µs\n`,
  );
  for (const [mode, r] of Object.entries(endToEnd)) {
    process.stdout.write(`issue one secret, guard ${mode === 'guard' ? 'on ' : 'off'}: n=${r.n}  p50 ${r.p50_ms} ms  p90 ${r.p90_ms} ms\n`);
  }
}
