// Load generators for bench/: wrk (C, one thread, event-driven; preferred, and the one that fits
// on one pinned core) or bench/load.mjs (node:http, the fallback when wrk is not installed).
// Both are closed loops: C connections, each sends a request, waits for the whole answer, sends
// the next. Both report {requests, seconds, errors, quantiles_us} (see stats.mjs).
import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { gridOf } from './stats.mjs';

const HERE = import.meta.dirname;
const LOAD_MJS = resolve(HERE, '..', 'load.mjs');
const WRK_SCRIPT = join(HERE, 'wrk-report.lua');

/** True when `cmd` is on PATH. */
export function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Prefix that runs a command on one CPU (`taskset -c N`), or nothing when not pinning. */
export const pinned = (cpu) => (cpu === undefined ? [] : ['taskset', '-c', String(cpu)]);

/** Spawns `[...prefix, cmd, ...args]`; resolves with stdout, rejects on a non-zero exit. */
function run(argv, env, limitMs) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (err = (err + d.toString()).slice(-2000)));
    const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('close', (code) => {
      clearTimeout(limit);
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited with ${code}\n${err}`));
      else resolveRun(out);
    });
  });
}

/**
 * Drives `url` with `request` ({method, body?, contentType?, authorization?, ifNoneMatch?,
 * expect}) from `connections` connections for `seconds` (whole seconds for wrk).
 */
export async function generate({ generator, url, request, connections, seconds, cpu }) {
  if (generator === 'wrk') {
    const env = {
      ...process.env,
      BENCH_METHOD: request.method,
      BENCH_BODY: request.body ?? '',
      BENCH_CONTENT_TYPE: request.contentType ?? '',
      BENCH_AUTHORIZATION: request.authorization ?? '',
      BENCH_IF_NONE_MATCH: request.ifNoneMatch ?? '',
    };
    const duration = Math.max(1, Math.round(seconds));
    const argv = [...pinned(cpu), 'wrk', '-t1', `-c${connections}`, `-d${duration}s`, '--timeout', '10s', '-s', WRK_SCRIPT, url];
    const out = await run(argv, env, (duration + 30) * 1000);
    const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (!line) throw new Error(`wrk printed no result:\n${out}`);
    const r = JSON.parse(line.slice('BENCH_RESULT '.length));
    const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
    return { requests: r.requests, seconds: r.duration_us / 1e6, errors, error_kinds: r.errors, quantiles_us: r.quantiles_us };
  }
  const argv = [
    ...pinned(cpu),
    process.execPath,
    LOAD_MJS,
    '--url',
    url,
    '--method',
    request.method,
    '--body',
    request.body ?? '',
    '--content-type',
    request.contentType ?? 'application/json',
    '--connections',
    String(connections),
    '--duration',
    String(seconds),
    // A fresh node process: its first moments (JIT) are not recorded.
    '--warmup',
    '0.3',
    '--expect',
    String(request.expect),
    '--raw',
  ];
  const env = {
    ...process.env,
    ...(request.authorization ? { LOAD_AUTHORIZATION: request.authorization } : {}),
    ...(request.ifNoneMatch ? { LOAD_IF_NONE_MATCH: request.ifNoneMatch } : {}),
  };
  const r = JSON.parse(await run(argv, env, (seconds + 30) * 1000));
  return {
    requests: r.requests,
    seconds: r.seconds,
    errors: r.errors,
    error_kinds: r.statuses,
    quantiles_us: gridOf(r.latencies_ms.map((x) => x * 1000)),
  };
}
