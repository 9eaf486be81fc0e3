/**
 * `creddy server --workers N` from the built bin, on a fresh SQLite store or PostgreSQL database,
 * and requests on fresh connections (the primary hands each new connection to the next worker;
 * the `creddy-worker` response header names the pid that answered).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BIN, type CliResult, runCli } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';

export type Engine = 'sqlite' | 'postgres';

export interface WorkerSet {
  readonly url: string;
  readonly primary: ChildProcess;
  /** Resolves with the primary's exit code (null if killed). */
  readonly exited: Promise<number | null>;
  /** Every JSON log line of the primary and its workers so far (they share stderr). */
  readonly log: Array<Record<string, unknown>>;
  readonly configPath: string;
  readonly dataDir: string;
  readonly db: FreshDatabase | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** The pids of the workers the primary started, in order. */
  workerPids(): number[];
  /** Everything the primary printed on stdout so far. */
  stdout(): string;
  cli(...args: string[]): Promise<CliResult>;
  agent(name: string, grants: string): Promise<string>;
  /** SIGTERM to the primary; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Stops it if still running; removes the store. */
  cleanup(): Promise<void>;
}

/** Starts the primary with `workers` workers; resolves once it prints where they listen. */
export async function startWorkers(
  engine: Engine,
  options: { workers?: number; extra?: string; args?: string[] } = {},
): Promise<WorkerSet> {
  const { dir, cleanup } = tempDir('creddy-workers-');
  const db = engine === 'postgres' ? await migratedDatabase() : undefined;
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, demoYaml({ dataDir, extra: [db ? `store: ${db.url}\nstore_pool: 4` : '', options.extra ?? ''].join('\n') }));
  const env = testEnv();
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--config', configPath, '--workers', String(options.workers ?? 2), ...(options.args ?? [])],
    {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log: Array<Record<string, unknown>> = [];
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        log.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        log.push({ text: line });
      }
    }
  });
  const set: WorkerSet = {
    url: '',
    primary: child,
    exited,
    log,
    configPath,
    dataDir,
    db,
    env,
    workerPids: () => log.filter((l) => l['msg'] === 'worker started').map((l) => l['worker_pid'] as number),
    stdout: () => out,
    cli: (...args) => runCli([...args, '--config', configPath], env),
    async agent(name, grants) {
      const r = await set.cli('agent', 'create', name, '--can', grants, '--json');
      if (r.code !== 0) throw new Error(`agent create failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { token: string }).token;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await db?.drop();
      cleanup();
    },
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workers did not start:\n${JSON.stringify(log)}`)), 30_000);
      child.stdout!.on('data', () => {
        const m = /creddy listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`primary exited (${code}) before listening:\n${JSON.stringify(log)}`));
      });
    });
    return Object.assign(set, { url });
  } catch (err) {
    await set.cleanup();
    throw err;
  }
}

export interface Answer {
  readonly status: number;
  /** The pid of the worker that answered (`creddy-worker`). */
  readonly worker: number;
  /** Parsed JSON, or the text of any other content type. */
  readonly body: any;
}

/** One request on a connection of its own, so that successive calls reach the workers in turn. */
export function call(url: string, path: string, options: { method?: string; token?: string; body?: unknown } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const data = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        // JSON parsed; anything else (the /metrics text) as it came.
        const json = /json/.test(res.headers['content-type'] ?? '');
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            worker: Number(res.headers['creddy-worker']),
            body: text ? (json ? JSON.parse(text) : text) : null,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** POST /v1/credentials (the demo backend, scope read) on a fresh connection. */
export const issue = (url: string, token: string): Promise<Answer> =>
  call(url, '/v1/credentials', { method: 'POST', token, body: { backend: 'demo', scopes: ['read'] } });

/**
 * Calls `fn` on fresh connections until every worker in `pids` has given an answer that
 * `accept` takes (at most `ms`); returns the answers.
 */
export async function fromEveryWorker(
  pids: readonly number[],
  fn: () => Promise<Answer>,
  accept: (a: Answer) => boolean = () => true,
  ms = 10_000,
): Promise<Answer[]> {
  const done = new Map<number, Answer>();
  const end = Date.now() + ms;
  while (!pids.every((pid) => done.has(pid))) {
    if (Date.now() > end) throw new Error(`not every worker answered as expected: ${[...done.keys()].join(', ')} of ${pids.join(', ')}`);
    const a = await fn();
    if (accept(a)) done.set(a.worker, a);
  }
  return [...done.values()];
}
