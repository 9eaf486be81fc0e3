/**
 * A real broker with federation rules pointing at loopback fake issuers, a movable clock (JWKS
 * cache lifetimes, the unknown-kid cooldown and ID token expiry without sleeping), and helpers
 * to present ID tokens both ways: as the bearer of `POST /v1/credentials`, and at the RFC 8693
 * token endpoint.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices, type Services } from '../../src/services.js';
import { captureLogger, type TestClock, tempDir, testClock, testEnv } from '../helpers/harness.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

export interface FederationBroker {
  readonly dir: string;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly clock: TestClock;
  readonly services: Services;
  readonly server: RunningServer;
  readonly url: string;
  readonly logLines: string[];
  stop(): Promise<void>;
}

/** Starts a broker whose config is `yaml(dataDir)` (issuer http://127.0.0.1:8400, throttle relaxed for failure-heavy tests). */
export async function startFederationBroker(yaml: (dataDir: string) => string): Promise<FederationBroker> {
  const { dir, cleanup } = tempDir('creddy-federation-');
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, yaml(join(dir, 'data')));
  const env = testEnv();
  const clock = testClock();
  const { logger, lines } = captureLogger();
  const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
  const services = await createServices(config, { env, logger, clock, actor: 'server' });
  // No idle grace at stop (http/drain.ts): nothing races this broker's shutdown.
  const server = await startServer(services, { host: '127.0.0.1', port: 0 }, { drainIdleMs: 0 });
  return {
    dir,
    configPath,
    env,
    clock,
    services,
    server,
    url: server.url,
    logLines: lines,
    async stop() {
      await server.stop();
      cleanup();
    },
  };
}

/** The common head of a test config: the `demo` and `other` generic backends. */
export function baseYaml(dataDir: string): string {
  return `issuer: http://127.0.0.1:8400
listen: 127.0.0.1:0
data_dir: ${dataDir}
auth_throttle:
  max_failures: 100000
  max_audited_per_window: 100000
backends:
  demo:
    type: generic
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write, "files:*"]
    default_scopes: [read]
  other:
    type: generic
    max_ttl: 1h
    allowed_scopes: [read]
    default_scopes: [read]
`;
}

/** `POST /v1/credentials` with `Authorization: Bearer <token>`. */
export async function issueWith(url: string, token: string, body: unknown): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(`${url}/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text };
}

/** `POST /oauth/token` with a form; `fields` are sent as given (so a test can repeat or omit one). */
export async function exchange(
  url: string,
  fields: Array<[string, string]> | Record<string, string>,
  contentType = 'application/x-www-form-urlencoded',
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields)).toString(),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text, headers: response.headers };
}

/** A token-exchange form for `token` and `backend`. */
export function exchangeForm(token: string, backend: string, extra: Record<string, string> = {}): Record<string, string> {
  return { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ID_TOKEN_TYPE, audience: backend, ...extra };
}

/** The broker's audience for GitHub Actions tokens: its own issuer, as the CLI defaults to. */
export const AUDIENCE = 'http://127.0.0.1:8400';

/**
 * Three rules: `gha-deploy` (main of my-org's repositories, pinned by owner id), `gha-once`
 * (single_use, its own audience), `k8s-ci` (a service account, nested claims).
 */
export function rulesYaml(gha: string, k8s: string): string {
  return `federation:
  gha-deploy:
    issuer: ${gha}
    audience: ${AUDIENCE}
    claims:
      repository_owner_id: "1234567"
      repository: my-org/*
      ref: refs/heads/main
    subject: "gha:{repository}@{ref}"
    can: ["demo:read", "demo:files:*"]
    max_ttl: 10m
  gha-once:
    issuer: ${gha}
    audience: https://once.example
    claims:
      repository_owner_id: "1234567"
    subject: "once:{repository}"
    single_use: true
    can: ["demo:read"]
  k8s-ci:
    issuer: ${k8s}
    audience: creddy
    claims:
      kubernetes.io/namespace: ci
      kubernetes.io/serviceaccount/name: deployer
    subject: "k8s:{sub}"
    can: ["other:read"]
`;
}
