/**
 * Several creddy servers on one fresh PostgreSQL database, as replicas behind a load balancer
 * would run: one config, one KEK and audit key, nothing else shared but the database.
 *
 * By default each replica runs in this process with services of its own (`createServices` +
 * `startServer`, exactly what `creddy server` runs): its own pool, LISTEN connection, keyring,
 * audit writer, schedule and reaper, so they coordinate only through the database, as processes
 * would, without a Node start and a module load per replica. `processes` spawns the built bin
 * instead, for all of them or only the replicas it names, for what only a process can show (kill -9
 * of a replica, kill-replica.test.ts).
 * The CLI runs in process either way, against the same database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../src/_utils/logger.js';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/http/server.js';
import { createServices } from '../../src/services.js';
import { BIN as CLI, type CliResult, runCli } from '../helpers/cli.js';
import { type TestClock, tempDir, testClock, testEnv } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';

export interface Replica {
  readonly url: string;
  /** The replica's process (those `processes` names only). */
  readonly process: ChildProcess | undefined;
  /** The replica's JSON log lines so far. */
  readonly log: string[];
  /** Stops it as SIGTERM would: drains, then closes its store. */
  stop(): Promise<void>;
}

export interface ReplicaSet {
  readonly db: FreshDatabase;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  /** The in-process replicas' clock (the wall clock until a test moves it); spawned replicas keep their own. */
  readonly clock: TestClock;
  readonly replicas: Replica[];
  /** Runs the CLI (in process) against the shared database. */
  cli(...args: string[]): Promise<CliResult>;
  /** Creates an agent with the CLI; returns its bearer token. */
  agent(name: string, grants: string): Promise<string>;
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  /** YAML before `backends:`. */
  readonly extra?: string;
  /** The YAML under `backends:`; default a generic `demo`. */
  readonly backendsYaml?: string;
  /** Environment on top of a fresh KEK and audit key. */
  readonly env?: NodeJS.ProcessEnv;
  /** Another PostgreSQL server (a private one, ../helpers/private-pg.ts); default the machine's. */
  readonly adminUrl?: string;
  /**
   * Replicas that run as a `creddy server` process of the built bin: `true` for all of them, or
   * their indices (the others run in this process).
   */
  readonly processes?: boolean | readonly number[];
  /** In-process replicas: the downstream reaper's period (default the server's 5 s). */
  readonly reaperIntervalMs?: number;
}

const DEMO = `  demo:
    type: generic
    audience: demo
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write]
    default_scopes: [read]`;

/** Starts `count` replicas on a fresh, migrated database (../helpers/pg.ts migratedDatabase). */
export async function startReplicas(count: number, options: ReplicaOptions = {}): Promise<ReplicaSet> {
  const db = await migratedDatabase(options.adminUrl);
  const { dir, cleanup } = tempDir('creddy-replicas-');
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(
    configPath,
    [
      'issuer: http://127.0.0.1:8400',
      'listen: 127.0.0.1:0',
      `data_dir: ${join(dir, 'data')}`,
      `store: ${db.url}`,
      // Few connections per replica: several test files may run replicas at once on one server.
      'store_pool: 4',
      options.extra ?? '',
      'backends:',
      options.backendsYaml ?? DEMO,
    ].join('\n'),
  );
  const env = testEnv(options.env);
  const clock = testClock();
  const replicas: Replica[] = [];
  const spawned = (i: number): boolean => (Array.isArray(options.processes) ? options.processes.includes(i) : options.processes === true);
  const start = (i: number): Promise<Replica> =>
    spawned(i) ? startProcess(configPath, env) : startInProcess(configPath, env, clock, options.reaperIntervalMs);
  const set: ReplicaSet = {
    db,
    configPath,
    env,
    clock,
    replicas,
    cli: (...args) => runCli([...args, '--config', configPath], env),
    async agent(name, grants) {
      const r = await set.cli('agent', 'create', name, '--can', grants, '--json');
      if (r.code !== 0) throw new Error(`agent create failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { token: string }).token;
    },
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      await db.drop();
      cleanup();
    },
  };
  try {
    // One first, so the bootstrap keys exist before the others start (they would race safely
    // anyway; this keeps the logs simple), then the rest at once.
    replicas.push(await start(0));
    replicas.push(...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1)))));
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}

async function startInProcess(configPath: string, env: NodeJS.ProcessEnv, clock: TestClock, reaperIntervalMs?: number): Promise<Replica> {
  const log: string[] = [];
  const config = loadConfig(configPath, env);
  const services = await createServices(config, { env, clock, logger: createLogger((line) => log.push(line)), actor: 'server' });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    // No idle grace at stop (http/drain.ts): tests stop their replicas once their clients are done.
    server = await startServer(
      services,
      { host: '127.0.0.1', port: 0 },
      { drainIdleMs: 0, ...(reaperIntervalMs === undefined ? {} : { reaperIntervalMs }) },
    );
  } catch (err) {
    await services.close();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return { url: server.url, process: undefined, log, stop: () => (stopped ??= server.stop()) };
}

function startProcess(configPath: string, env: NodeJS.ProcessEnv): Promise<Replica> {
  const child = spawn(process.execPath, [CLI, 'server', '--config', configPath], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    log.push(...lines);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`replica did not start:\n${log.join('\n')}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /creddy listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, process: child, log, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`replica exited (${code}) before listening:\n${log.join('\n')}`));
    });
  });
}

/** POST /v1/credentials on one replica. */
export async function issueOn(url: string, token: string, body: unknown = { backend: 'demo', scopes: ['read'] }) {
  const res = await fetch(`${url}/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Polls until `check` holds, for at most `ms` (then fails). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
