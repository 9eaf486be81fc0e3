import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../../src/_utils/logger.js';
import { createAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';

/** Path of the built CLI; `npm test` builds before running vitest. */
export const CLI = resolve(import.meta.dirname, '../../dist/main.js');

/** A private temp dir removed by `cleanup()`. */
export function tempDir(prefix = 'creddy-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fresh KEK and audit key, as an operator would set them (no dev-key files). */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    CREDDY_KEK: randomBytes(32).toString('hex'),
    CREDDY_AUDIT_KEY: randomBytes(32).toString('hex'),
    ...extra,
  };
}

/** A config with the `demo` generic backend; `backendsYaml` replaces the backends block. */
export function demoYaml(options: { dataDir: string; backendsYaml?: string; extra?: string }): string {
  return [
    'issuer: http://127.0.0.1:8400',
    'listen: 127.0.0.1:0',
    `data_dir: ${options.dataDir}`,
    options.extra ?? '',
    'backends:',
    options.backendsYaml ??
      `  demo:
    type: generic
    audience: demo
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write, "files:*"]
    default_scopes: [read]`,
  ].join('\n');
}

/** Captures log lines so tests can assert no secret ever reaches them. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger((line) => lines.push(line)), lines };
}

export interface TestBroker {
  readonly dir: string;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly services: Services;
  readonly server: RunningServer;
  readonly url: string;
  readonly logLines: string[];
  /** Creates an agent in-process and returns its bearer token. */
  agent(name: string, grants: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real broker on an ephemeral loopback port with its own data dir, KEK and audit key. The
 * config is written to disk so CLI processes (`runCli`) can open the same store.
 */
export async function startBroker(options: { yaml?: (dataDir: string) => string; env?: NodeJS.ProcessEnv } = {}): Promise<TestBroker> {
  const { dir, cleanup } = tempDir();
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, options.yaml ? options.yaml(dataDir) : demoYaml({ dataDir }));
  const env = testEnv(options.env);
  const { logger, lines } = captureLogger();
  const { readFileSync } = await import('node:fs');
  const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
  const services = await createServices(config, { env, logger, actor: 'server' });
  const server = await startServer(services, { host: '127.0.0.1', port: 0 });
  return {
    dir,
    configPath,
    env,
    services,
    server,
    url: server.url,
    logLines: lines,
    async agent(name, grants) {
      const { token } = await createAgent(services, { name, grants: parseGrants(grants, services), ttlSeconds: null, actor: 'cli' });
      return token;
    },
    async stop() {
      await server.stop();
      cleanup();
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion with exactly `env`, feeding `input` on stdin. */
export function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Runs the real `creddy` binary with `args`; env is merged over a minimal base. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, input);
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
