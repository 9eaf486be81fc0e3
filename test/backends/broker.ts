/**
 * A real broker for downstream-backend tests: like test/helpers/harness.ts's startBroker, plus a
 * movable clock (so a 60 s credential can expire without sleeping) and a fast reaper, and a
 * restart on the same data dir and keys (to prove the reaper's state survives it).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';
import { captureLogger, tempDir, testEnv } from '../helpers/harness.js';

/** An RSA key pair like a GitHub App's (PKCS#8 private, SPKI public). */
export function appKeyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

/** A clock tests can move forward. */
export interface TestClock {
  now(): number;
  advance(seconds: number): void;
}
export function testClock(): TestClock {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (seconds) => void (offset += seconds * 1000) };
}

export interface DownstreamBroker {
  readonly dir: string;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly clock: TestClock;
  services: Services;
  server: RunningServer;
  url: string;
  readonly logLines: string[];
  agent(name: string, grants: string): Promise<string>;
  /** Stops the server (reaper included) and starts a new one on the same data dir, keys and clock. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Writes `files` (e.g. the App key) next to the config and starts a broker with `backendsYaml`. */
export async function startDownstreamBroker(options: {
  backendsYaml: (dir: string) => string;
  files?: Record<string, string>;
  reaperIntervalMs?: number;
}): Promise<DownstreamBroker> {
  const { dir, cleanup } = tempDir('creddy-downstream-');
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(
    configPath,
    ['issuer: http://127.0.0.1:8400', 'listen: 127.0.0.1:0', `data_dir: ${join(dir, 'data')}`, 'backends:', options.backendsYaml(dir)].join(
      '\n',
    ),
  );
  const env = testEnv();
  const clock = testClock();
  const { logger, lines } = captureLogger();
  const boot = async (): Promise<{ services: Services; server: RunningServer }> => {
    const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
    const services = await createServices(config, { env, logger, clock, actor: 'server' });
    const server = await startServer(services, { host: '127.0.0.1', port: 0 }, { reaperIntervalMs: options.reaperIntervalMs ?? 100 });
    return { services, server };
  };
  const first = await boot();
  const broker: DownstreamBroker = {
    dir,
    configPath,
    env,
    clock,
    logLines: lines,
    ...first,
    url: first.server.url,
    async agent(name, grants) {
      const { token } = await createAgent(broker.services, {
        name,
        grants: parseGrants(grants, broker.services),
        ttlSeconds: null,
        actor: 'cli',
      });
      return token;
    },
    async restart() {
      await broker.server.stop();
      const next = await boot();
      broker.services = next.services;
      broker.server = next.server;
      broker.url = next.server.url;
    },
    async stop() {
      await broker.server.stop();
      cleanup();
    },
  };
  return broker;
}

/** Polls `check` until it is true (or throws after `timeoutMs`); for background work like the reaper. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The agent's latest audit row and the credential row it names (none after a failed mint). */
export async function lastOutcome(broker: DownstreamBroker, agent: string) {
  const [row] = await broker.services.store.audit.query({ agent, limit: 1 });
  const credential = row?.jti ? await broker.services.store.credentials.get(row.jti) : undefined;
  return { row, credential };
}
