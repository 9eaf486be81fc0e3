/**
 * What the caller commands say when something is off on the caller's side: a broker that does not
 * answer, or stops in the middle of its answer (the timeout, `--timeout` and CREDDY_TIMEOUT, which
 * `creddy verify` and the GitHub Actions ID token request honour too), an agent or backend that
 * requires DPoP (which the CLI's bearer credentials cannot satisfy), half a key pair in the
 * environment, and a key file that others may read.
 */
import { chmodSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { DEMO_BACKEND } from '../helpers/setup.js';

let broker: TestBroker;
let hung: Server;
let hungUrl: string;
const sockets = new Set<Socket>();

const operator = (...args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
// The broker is reached at its port, not at its issuer: CREDDY_ISSUER names it (test/cli/agent-key.test.ts).
const keyPair = (agent: string, keyFile: string) => ({
  CREDDY_URL: broker.url,
  CREDDY_ISSUER: broker.services.config.issuer,
  CREDDY_AGENT: agent,
  CREDDY_AGENT_KEY_FILE: keyFile,
});

beforeAll(async () => {
  broker = await startBroker({
    backends: `${DEMO_BACKEND}
  bound-only:
    type: generic
    require_dpop: true
    allowed_scopes: [read]
    default_scopes: [read]`,
  });
  // A broker that takes the connection and never answers.
  hung = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  const address = hung.address();
  hungUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  await Promise.all(fronts.map((close) => close()));
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => hung?.close(resolve));
  await broker?.stop();
});

const fronts: Array<() => Promise<void>> = [];
/** A loopback HTTP server answering with `handler`, closed (its connections too) after the file. */
async function front(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fronts.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}
/** Sends an answer's status and headers, and a first piece of its body, then nothing more. */
const stalls = (status: number) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': '1000' });
  res.write('{"value":');
};
/** The broker, except that requests whose path starts with `hung` get no answer at all. */
const brokerExcept =
  (hung: string) =>
  (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url?.startsWith(hung)) return;
    void fetch(`${broker.url}${req.url}`, { method: req.method ?? 'GET', headers: { accept: req.headers.accept ?? '*/*' } }).then(
      async (answer) => {
        const headers = Object.fromEntries(
          [...answer.headers].filter(([name]) => ['content-type', 'cache-control', 'etag'].includes(name)),
        );
        res.writeHead(answer.status, headers).end(Buffer.from(await answer.arrayBuffer()));
      },
    );
  };

// Concurrent: their tests wait out 1 s timeouts, not the CPU.
describe.concurrent('a broker that does not answer', () => {
  it('--timeout bounds the wait; the error names the request, the wait and how to change it', async () => {
    const started = Date.now();
    const [flag, env] = await Promise.all([
      runCli(['get', 'demo', '--timeout', '1s'], { CREDDY_URL: hungUrl, CREDDY_TOKEN: 'ckr_x' }),
      runCli(['list'], { CREDDY_URL: hungUrl, CREDDY_TOKEN: 'ckr_x', CREDDY_TIMEOUT: '1' }),
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain(`ERR_NOT_READY: cannot reach creddy at ${hungUrl}`);
    expect(flag.stderr).toContain('POST /v1/credentials timed out after 1s (set by --timeout; a longer --timeout waits longer)');
    expect(flag.stderr).not.toContain('The operation was aborted');
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(
      'GET /v1/credentials timed out after 1s (set by CREDDY_TIMEOUT; wait longer with --timeout DURATION or CREDDY_TIMEOUT=DURATION)',
    );
  });

  it('--timeout wins over CREDDY_TIMEOUT; a value that is not 1s to 1h is a usage error', async () => {
    const wins = await runCli(['revoke', 'crd_x', '--timeout', '1'], {
      CREDDY_URL: hungUrl,
      CREDDY_TOKEN: 'ckr_x',
      CREDDY_TIMEOUT: 'soon',
    });
    expect(wins.stderr).toContain('timed out after 1s (set by --timeout');
    for (const [args, env, what] of [
      [['--timeout', '0'], {}, '--timeout "0"'],
      [['--timeout', '2h'], {}, '--timeout "2h"'],
      [[], { CREDDY_TIMEOUT: 'soon' }, 'CREDDY_TIMEOUT "soon"'],
    ] as const) {
      const r = await runCli(['get', 'demo', ...args], { CREDDY_URL: hungUrl, CREDDY_TOKEN: 'ckr_x', ...env });
      expect(r.code, what).toBe(2);
      expect(r.stderr).toContain(`${what} must be a duration from 1s to 1h`);
    }
  });

  it("a broker that sends its answer's headers and then stalls: the error says it answered, and that its body stopped coming", async () => {
    const url = await front(stalls(201));
    const r = await runCli(['get', 'demo', '--timeout', '1s'], { CREDDY_URL: url, CREDDY_TOKEN: 'ckr_x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `creddy: ERR_NOT_READY: creddy at ${url} answered 201, then its body stopped coming: POST /v1/credentials timed out after 1s (set by --timeout; a longer --timeout waits longer)\n`,
    );
  });

  it('a broker that answers in time is not affected by a short --timeout', async () => {
    const token = await broker.agent('quick', 'demo:read');
    const r = await runCli(['get', 'demo', '--timeout', '5s'], { CREDDY_URL: broker.url, CREDDY_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe.concurrent('creddy verify honours --timeout and CREDDY_TIMEOUT', () => {
  let token: string;
  beforeAll(async () => {
    token = (await issue(broker.url, await broker.agent('verified', 'demo:read'), { backend: 'demo' })).body.token as string;
  });

  it('a broker that never answers: the discovery request times out, said as the caller commands say it', async () => {
    const started = Date.now();
    const [flag, env] = await Promise.all([
      runCli(['verify', token, '--timeout', '1s'], { CREDDY_URL: hungUrl }),
      runCli(['verify', token], { CREDDY_URL: hungUrl, CREDDY_TIMEOUT: '1' }),
    ]);
    // Before --timeout, verify waited the client's 30 s here.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toBe(
      `creddy: ERR_NOT_READY: cannot reach creddy at ${hungUrl}: no answer: GET /.well-known/openid-configuration timed out after 1s (set by --timeout; a longer --timeout waits longer)\n`,
    );
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(
      'GET /.well-known/openid-configuration timed out after 1s (set by CREDDY_TIMEOUT; wait longer with --timeout DURATION or CREDDY_TIMEOUT=DURATION)',
    );
  });

  it("the JWKS and the revocation status wait the caller's timeout too (not the verifier's own 10 s)", async () => {
    const [noKeys, noStatus] = await Promise.all([front(brokerExcept('/.well-known/jwks.json')), front(brokerExcept('/v1/revocations/'))]);
    const started = Date.now();
    const [keys, status] = await Promise.all([
      runCli(['verify', token, '--timeout', '1s'], { CREDDY_URL: noKeys }),
      runCli(['verify', token, '--timeout', '1s'], { CREDDY_URL: noStatus }),
    ]);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(keys.code).toBe(1);
    expect(keys.stderr).toBe(
      `creddy: ERR_ISSUER_UNAVAILABLE: cannot fetch the JWKS at ${noKeys}/.well-known/jwks.json: GET /.well-known/jwks.json timed out after 1s (set by --timeout; a longer --timeout waits longer)\n`,
    );
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(
      /^creddy: ERR_NOT_READY: cannot reach creddy at \S+: no answer: GET \/v1\/revocations\/\S+ timed out after 1s \(set by --timeout; a longer --timeout waits longer\)\n$/,
    );
    // Through the same front, a broker that answers verifies as ever.
    const ok = await runCli(['verify', token, '--timeout', '5s'], { CREDDY_URL: await front(brokerExcept('/nothing')) });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^valid token /);
  });

  it('a --timeout or CREDDY_TIMEOUT that is not 1s to 1h is a usage error', async () => {
    for (const [args, env, what] of [
      [['--timeout', '0'], {}, '--timeout "0"'],
      [[], { CREDDY_TIMEOUT: 'soon' }, 'CREDDY_TIMEOUT "soon"'],
    ] as const) {
      const r = await runCli(['verify', token, ...args], { CREDDY_URL: hungUrl, ...env });
      expect(r.code, what).toBe(2);
      expect(r.stderr).toContain(`${what} must be a duration from 1s to 1h`);
    }
  });
});

describe("GitHub Actions' ID token service that does not answer", () => {
  // The request token, and a query the runner's URL might carry: neither is ever printed.
  const REQUEST_TOKEN = 'gha-request-token-secret';
  const actions = (url: string) => ({
    CREDDY_URL: broker.url,
    CREDDY_ISSUER: broker.services.config.issuer,
    ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/runner/idtoken?api-version=2.0&sig=query-secret`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
  });

  it("waits the caller's timeout, and says it was the CI provider's endpoint, after how long, and whether its body stopped coming", async () => {
    const stalled = await front(stalls(200));
    const started = Date.now();
    const [silent, cut] = await Promise.all([
      runCli(['get', 'demo', '--timeout', '1s'], actions(hungUrl)),
      runCli(['get', 'demo'], { ...actions(stalled), CREDDY_TIMEOUT: '1' }),
    ]);
    // Before, a fixed 10 s, said as "The operation was aborted".
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toBe(
      `creddy: ERR_UNAUTHENTICATED: no answer from GitHub Actions' ID token service at ${hungUrl} (ACTIONS_ID_TOKEN_REQUEST_URL: the CI provider's endpoint, not creddy): timed out after 1s (set by --timeout; a longer --timeout waits longer)\n`,
    );
    expect(cut.code).toBe(1);
    expect(cut.stderr).toBe(
      `creddy: ERR_UNAUTHENTICATED: GitHub Actions' ID token service at ${stalled} (ACTIONS_ID_TOKEN_REQUEST_URL: the CI provider's endpoint, not creddy) answered 200, then its body stopped coming: timed out after 1s (set by CREDDY_TIMEOUT; wait longer with --timeout DURATION or CREDDY_TIMEOUT=DURATION)\n`,
    );
    for (const r of [silent, cut]) {
      for (const secret of [REQUEST_TOKEN, 'query-secret', 'api-version', '/runner/idtoken', 'aborted'])
        expect(r.stderr).not.toContain(secret);
    }
  });
});

describe('DPoP required', () => {
  it('for an agent created with --require-dpop: says the CLI hands out bearer credentials, and what to do instead', async () => {
    const path = join(broker.dir, 'strict.pem');
    expect((await operator('agent', 'create', 'strict', '--can', 'demo:read', '--generate-key', path, '--require-dpop')).code).toBe(0);
    const r = await runCli(['get', 'demo'], keyPair('strict', path));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'ERR_DPOP_INVALID: this agent requires DPoP-bound credentials, and the CLI hands out bearer credentials only',
    );
    expect(r.stderr).toContain('use the SDK (creddy/client) with its dpop option, or create the agent without --require-dpop');
    expect(r.stderr).not.toContain('send a DPoP proof');
  });

  it("for a backend with require_dpop: names the backend and its config's setting", async () => {
    const token = await broker.agent('plain', 'bound-only:read');
    const r = await runCli(['get', 'bound-only'], { CREDDY_URL: broker.url, CREDDY_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('backend "bound-only" requires DPoP-bound credentials, and the CLI hands out bearer credentials only');
    expect(r.stderr).toContain("or remove require_dpop from the backend's config");
  });

  it('without details.required_by (the OAuth errors of the token endpoint carry none): names both settings', async () => {
    const message = 'backend "x" requires DPoP-bound credentials: send a DPoP proof with the request';
    const fake = createHttpServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ERR_DPOP_INVALID', message } }));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const port = (fake.address() as { port: number }).port;
      const r = await runCli(['get', 'x'], { CREDDY_URL: `http://127.0.0.1:${port}`, CREDDY_TOKEN: 'ckr_x' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        'this agent or backend "x" requires DPoP-bound credentials, and the CLI hands out bearer credentials only',
      );
      expect(r.stderr).toContain("or create the agent without --require-dpop and remove require_dpop from the backend's config");
    } finally {
      fake.closeAllConnections();
      await new Promise((resolve) => fake.close(resolve));
    }
  });
});

describe('a key pair in the environment', () => {
  it('CREDDY_AGENT without CREDDY_AGENT_KEY_FILE, and the reverse, say that a key-pair agent needs both', async () => {
    const agentOnly = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, CREDDY_AGENT: 'someone' });
    expect(agentOnly.code).toBe(2);
    expect(agentOnly.stderr).toContain('CREDDY_AGENT is set but CREDDY_AGENT_KEY_FILE is not: a key-pair agent needs both');
    expect(agentOnly.stderr).not.toContain('CREDDY_TOKEN is not set');
    const fileOnly = await runCli(['list'], { CREDDY_URL: broker.url, CREDDY_AGENT_KEY_FILE: 'key.pem' });
    expect(fileOnly.code).toBe(2);
    expect(fileOnly.stderr).toContain('CREDDY_AGENT_KEY_FILE is set but CREDDY_AGENT is not: a key-pair agent needs both');
  });

  it('warns, and still authenticates, when the key file is readable by group or others', async () => {
    const path = join(broker.dir, 'open.pem');
    expect((await operator('agent', 'create', 'open', '--can', 'demo:read', '--generate-key', path)).code).toBe(0);
    const quiet = await runCli(['get', 'demo'], keyPair('open', path));
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('warning');
    chmodSync(path, 0o644);
    const r = await runCli(['get', 'demo'], keyPair('open', path));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      `creddy: warning: CREDDY_AGENT_KEY_FILE ${path} has mode 0644: others on this machine may read the agent's private key (chmod 600 ${path})\n`,
    );
  });
});
