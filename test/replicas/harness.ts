/**
 * Several real `creddy server` processes (the built CLI) on one fresh PostgreSQL database, as
 * replicas behind a load balancer would run: one config, one KEK and audit key, nothing else
 * shared but the database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrateStore } from '../../src/store/migrate-store.js';
import { BIN as CLI, type CliResult, runBin as runCli } from '../helpers/cli.js';
import { tempDir, testEnv } from '../helpers/harness.js';
import { type FreshDatabase, freshDatabase } from '../helpers/pg.js';

export interface Replica {
  readonly url: string;
  readonly process: ChildProcess;
  /** The replica's JSON log lines so far. */
  readonly log: string[];
  stop(): Promise<void>;
}

export interface ReplicaSet {
  readonly db: FreshDatabase;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly replicas: Replica[];
  /** Runs the real CLI against the shared database. */
  cli(...args: string[]): Promise<CliResult>;
  /** Creates an agent with the CLI; returns its bearer token. */
  agent(name: string, grants: string): Promise<string>;
  stop(): Promise<void>;
}

const DEMO = `  demo:
    type: generic
    audience: demo
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write]
    default_scopes: [read]`;

/**
 * Starts `count` replicas on a fresh, migrated database (on the test server, or the server of
 * `adminUrl`). `extra` is YAML before `backends:`.
 */
export async function startReplicas(
  count: number,
  options: { extra?: string; backendsYaml?: string; env?: NodeJS.ProcessEnv; adminUrl?: string } = {},
): Promise<ReplicaSet> {
  const db = await freshDatabase(options.adminUrl);
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
  const replicas: Replica[] = [];
  const set: ReplicaSet = {
    db,
    configPath,
    env,
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
    await migrateStore({ kind: 'postgres', url: db.url, display: db.url, poolSize: 1 });
    // One first, so the bootstrap keys exist before the others start (they would race safely
    // anyway; this keeps the logs simple), then the rest at once.
    replicas.push(await startReplica(configPath, env));
    replicas.push(...(await Promise.all(Array.from({ length: count - 1 }, () => startReplica(configPath, env)))));
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}

function startReplica(configPath: string, env: NodeJS.ProcessEnv): Promise<Replica> {
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
