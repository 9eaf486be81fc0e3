import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { vi } from 'vitest';
import type { Clock } from '../../src/_utils/clock.js';
import { createAgent, createKeyPairAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { type ServerMetrics, serverMetrics } from '../../src/cli/metrics.js';
import { generateAgentKey } from '../../src/client/agent-key.js';
import { loadConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';
import type { Store } from '../../src/store/port.js';
import { captureLogger, demoYaml, type TestClock, tempDir, testClock, testEnv } from './setup.js';

/**
 * The one way tests build a broker (startBroker), with an HTTP issue call and polling for
 * background work; ./setup.ts (temp dirs, keys, YAML, loggers, clock) is re-exported. Tests that
 * run the CLI use ./cli.ts with the broker's `configPath` and `env`.
 */

export * from './setup.js';

export interface ServicesOptions {
  /** The YAML under `backends:` (two-space indented), given the broker's dir; default the demo backend. */
  readonly backends?: string | ((dir: string) => string);
  /** More top-level YAML: `keys:`, `audit:`, `auth_throttle:`. */
  readonly extra?: string;
  /** Files written into the broker's dir before it starts (e.g. a GitHub App key). */
  readonly files?: Readonly<Record<string, string>>;
  /** Environment on top of a fresh KEK and audit key. */
  readonly env?: NodeJS.ProcessEnv;
  /** Opens the store on the configured SQLite path (tests that keep its connection); else the configured store. */
  readonly store?: (path: string) => Store;
}

export interface BrokerOptions extends ServicesOptions {
  /** The broker's clock; a movable one by default. */
  readonly clock?: TestClock;
  /** The downstream reaper's period (default the server's own, 5 s). */
  readonly reaperIntervalMs?: number;
  /** Prometheus metrics as `creddy server` builds them, served where `metrics_listen` says (default: none). */
  readonly metrics?: boolean;
}

/** A broker's data dir, config and keys, and how to open its services, before anything runs. */
function prepare(options: ServicesOptions, clock: Clock) {
  const { dir, cleanup } = tempDir('creddy-broker-');
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const configPath = join(dir, 'creddy.yaml');
  const backends = typeof options.backends === 'function' ? options.backends(dir) : options.backends;
  writeFileSync(
    configPath,
    demoYaml({
      dataDir: join(dir, 'data'),
      ...(backends ? { backendsYaml: backends } : {}),
      ...(options.extra ? { extra: options.extra } : {}),
    }),
  );
  const env = testEnv(options.env);
  const { logger, lines } = captureLogger();
  const open = (metrics?: ServerMetrics): Promise<Services> => {
    const config = loadConfig(configPath, env);
    const store = options.store && config.store.kind === 'sqlite' ? options.store(config.store.path) : undefined;
    return createServices(config, {
      env,
      logger,
      clock,
      actor: 'server',
      ...(store ? { store } : {}),
      ...(metrics ? { metrics: metrics.metrics } : {}),
    });
  };
  /** The server's metrics, built from the config as `creddy server` does. */
  const metrics = (): Promise<ServerMetrics | undefined> => serverMetrics(loadConfig(configPath, env), logger, false);
  const agent = async (services: Services, name: string, grants: string, ttlSeconds: number | null = null): Promise<string> =>
    (await createAgent(services, { name, grants: parseGrants(grants, services), ttlSeconds, actor: 'cli' })).token;
  const keyPairAgent = async (services: Services, name: string, grants: string, options: KeyPairOptions = {}): Promise<TestAgentKey> => {
    const key = await generateAgentKey();
    await createKeyPairAgent(services, {
      name,
      grants: parseGrants(grants, services),
      ttlSeconds: null,
      actor: 'cli',
      publicKeys: [{ x: key.publicJwk.x, jkt: key.jkt }],
      ...(options.requireDpop ? { requireDpop: true } : {}),
    });
    return key;
  };
  return { dir, cleanup, configPath, env, lines, open, metrics, agent, keyPairAgent };
}

/** A key-pair agent's key, as generateAgentKey returns it (the private JWK is what the agent holds). */
export type TestAgentKey = Awaited<ReturnType<typeof generateAgentKey>>;

export interface KeyPairOptions {
  /** The agent is issued only DPoP-bound credentials. */
  readonly requireDpop?: boolean;
}

export interface TestServices {
  readonly dir: string;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly services: Services;
  readonly logLines: string[];
  /** Creates an agent in-process and returns its bearer token. */
  agent(name: string, grants: string, ttlSeconds?: number | null): Promise<string>;
  /** Creates a key-pair agent in-process with a fresh key and returns the key. */
  keyPairAgent(name: string, grants: string, options?: KeyPairOptions): Promise<TestAgentKey>;
  close(): Promise<void>;
}

/**
 * The broker's services without a server, on `clock`: for tests that drive the app with
 * `createApp(services).request()` or call use cases directly.
 */
export async function openServices(options: ServicesOptions & { readonly clock?: Clock } = {}): Promise<TestServices> {
  const broker = prepare(options, options.clock ?? testClock());
  let services: Services;
  try {
    services = await broker.open();
  } catch (err) {
    broker.cleanup();
    throw err;
  }
  return {
    dir: broker.dir,
    configPath: broker.configPath,
    env: broker.env,
    services,
    logLines: broker.lines,
    agent: (name, grants, ttlSeconds) => broker.agent(services, name, grants, ttlSeconds ?? null),
    keyPairAgent: (name, grants, options) => broker.keyPairAgent(services, name, grants, options),
    async close() {
      await services.close();
      broker.cleanup();
    },
  };
}

export interface TestBroker {
  readonly dir: string;
  /** The config on disk, so CLI runs open the same store. */
  readonly configPath: string;
  /** The KEK and audit key (and `options.env`): what the CLI needs to open the store. */
  readonly env: NodeJS.ProcessEnv;
  readonly clock: TestClock;
  /** The running server's services and address; new ones after restart(). */
  readonly services: Services;
  readonly server: RunningServer;
  readonly url: string;
  /** Every log line of every server this broker ran. */
  readonly logLines: string[];
  /** Creates an agent in-process and returns its bearer token. */
  agent(name: string, grants: string): Promise<string>;
  /** Creates a key-pair agent in-process with a fresh key and returns the key. */
  keyPairAgent(name: string, grants: string, options?: KeyPairOptions): Promise<TestAgentKey>;
  /** Stops the server (drain, reaper, last checkpoint) and keeps the data dir. */
  stopServer(): Promise<void>;
  /**
   * Stops the server and starts a new one on the same data dir and clock, with the same keys
   * unless `env` changes them: each variable it names is set (undefined: removed) in `env` for
   * this server, later ones and CLI runs given `env` (an operator changing the audit key).
   */
  restart(env?: NodeJS.ProcessEnv): Promise<void>;
  /** Stops the server if it runs and removes the data dir. */
  stop(): Promise<void>;
}

/**
 * A real broker on an ephemeral loopback port with its own data dir, KEK and audit key. The
 * config is written to disk so CLI runs can open the same store.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const clock = options.clock ?? testClock();
  const broker = prepare(options, clock);
  const reaper = options.reaperIntervalMs === undefined ? {} : { reaperIntervalMs: options.reaperIntervalMs };
  // Stopping closes fetch's idle keep-alive connections at once, as before the drain waited for
  // them (http/drain.ts): nothing races these brokers' shutdown, and a second per stop adds up.
  const serverOptions = { ...reaper, drainIdleMs: 0 };
  const boot = async (): Promise<{ services: Services; server: RunningServer }> => {
    const metrics = options.metrics ? await broker.metrics() : undefined;
    const services = await broker.open(metrics);
    try {
      const served = metrics ? { metrics: { exposition: metrics.exposition } } : {};
      return { services, server: await startServer(services, { host: '127.0.0.1', port: 0 }, { ...serverOptions, ...served }) };
    } catch (err) {
      await services.close();
      throw err;
    }
  };

  let running: { services: Services; server: RunningServer } | undefined;
  try {
    running = await boot();
  } catch (err) {
    broker.cleanup();
    throw err;
  }
  let current = running;
  const stopServer = async (): Promise<void> => {
    const stopping = running;
    running = undefined;
    await stopping?.server.stop();
  };
  return {
    dir: broker.dir,
    configPath: broker.configPath,
    env: broker.env,
    clock,
    logLines: broker.lines,
    get services() {
      return current.services;
    },
    get server() {
      return current.server;
    },
    get url() {
      return current.server.url;
    },
    agent: (name, grants) => broker.agent(current.services, name, grants),
    keyPairAgent: (name, grants, options) => broker.keyPairAgent(current.services, name, grants, options),
    stopServer,
    async restart(env = {}) {
      await stopServer();
      for (const [name, value] of Object.entries(env)) {
        if (value === undefined) delete broker.env[name];
        else broker.env[name] = value;
      }
      running = current = await boot();
    },
    async stop() {
      await stopServer();
      broker.cleanup();
    },
  };
}

/** POSTs an issue request with a bearer token; returns status and parsed body. */
export async function issue(url: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The agent's latest audit row and the credential row it names (none after a failed mint). */
export async function lastOutcome(broker: TestBroker, agent: string) {
  const [row] = await broker.services.store.audit.query({ agent, limit: 1 });
  const credential = row?.jti ? await broker.services.store.credentials.get(row.jti) : undefined;
  return { row, credential };
}

/** The real timer, taken before any test installs fake ones. */
const realSetTimeout = globalThis.setTimeout;

/**
 * Polls `check` until it is true (or throws after `timeoutMs` of real time): for background work
 * the test cannot await, such as a reaper pass. Works under fake timers too.
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => realSetTimeout(resolve, 10));
  }
}

/** Timer functions a test can fake (vi.useFakeTimers' `toFake`). */
export type FakeTimerMethods = NonNullable<NonNullable<Parameters<typeof vi.useFakeTimers>[0]>['toFake']>;

/**
 * vi.useFakeTimers with exactly `toFake` (never setImmediate, which the audit writer batches on),
 * after one real fetch: fetch (undici) starts a clock timer of its own on first use and only
 * refreshes it afterwards. Started under fake timers it would stay frozen once they are gone, for
 * every later test file in this worker, and undici's keep-alive expiry with it.
 */
export async function useFakeTimers(toFake: FakeTimerMethods): Promise<void> {
  const server = createServer((_req, res) => res.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)).arrayBuffer();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  vi.useFakeTimers({ toFake });
}

/**
 * Waits for `work` while fake timers drive it: the fake clock moves `stepMs` at a time, with a
 * real pause between steps so that loopback I/O (the broker, the fakes) keeps up. Timeouts,
 * backoff, Retry-After and slow fakes then take fake seconds, not real ones.
 */
export async function onFakeTime<T>(work: Promise<T>, stepMs = 20): Promise<T> {
  let settled = false;
  const done = work.finally(() => {
    settled = true;
  });
  while (!settled) {
    await new Promise((resolve) => realSetTimeout(resolve, 1));
    await vi.advanceTimersByTimeAsync(stepMs);
  }
  return done;
}
