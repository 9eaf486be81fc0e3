import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyPairAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { generateAgentKey } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import { baseYaml, type FederationBroker, startFederationBroker } from '../federation/fixture.js';
import { runCli } from '../helpers/cli.js';
import type { TestAgentKey } from '../helpers/harness.js';

/**
 * The client believes a broker's metadata only for the URL it fetched it from (RFC 8414 §3.3).
 * The real broker here is published at `front` (a loopback proxy, as a TLS terminator would be):
 * its issuer is front's URL, and the broker's own port is an internal address of it. `evil` is
 * whatever else a client may be pointed at (a stale or mistyped CREDDY_URL, a shared staging
 * broker): its metadata names the real broker's issuer, or AWS STS, to collect client assertions,
 * DPoP proofs and ID tokens that are valid there.
 */

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A reverse proxy to `target` (set once the broker runs): the broker's public address. */
async function startFront() {
  const state = { target: '' };
  const server = createServer((req, res) => {
    const upstream = httpRequest(`${state.target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  const url = await listen(server);
  return { url, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A server that answers discovery with `metadata(itsOwnUrl)` and records every request. */
async function startEvil() {
  const seen: Seen[] = [];
  const state = { metadata: (_url: string): Record<string, unknown> => ({}) };
  let url = '';
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.push({ method: req.method ?? 'GET', path, headers: req.headers });
    req.resume();
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/.well-known/openid-configuration' || path === '/.well-known/oauth-authorization-server')
      return json(200, state.metadata(url));
    return json(503, { error: { code: 'ERR_NOT_READY', message: 'try again', request_id: 'x' } });
  });
  url = await listen(server);
  return { url, seen, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let gha: FakeOidcIssuer;
let front: Awaited<ReturnType<typeof startFront>>;
let evil: Awaited<ReturnType<typeof startEvil>>;
let broker: FederationBroker;
let key: TestAgentKey;
let tokenFile: string;

beforeAll(async () => {
  gha = await startFakeOidcIssuer();
  front = await startFront();
  evil = await startEvil();
  broker = await startFederationBroker(
    (dataDir) => `${baseYaml(dataDir).replace('issuer: http://127.0.0.1:8400', `issuer: ${front.url}`)}federation:
  gha:
    issuer: ${gha.url}
    audience: ${front.url}
    claims:
      repository_owner_id: "1234567"
    subject: "repo:{repository}"
    can: ["demo:read"]
`,
  );
  front.state.target = broker.url;
  key = await generateAgentKey();
  await createKeyPairAgent(broker.services, {
    name: 'deploy-bot',
    grants: parseGrants('demo:read', broker.services),
    ttlSeconds: null,
    actor: 'cli',
    publicKeys: [{ x: key.publicJwk.x, jkt: key.jkt }],
  });
  tokenFile = join(broker.dir, 'deploy-bot.jwk');
  writeFileSync(tokenFile, JSON.stringify(key.privateJwk), { mode: 0o600 });
});
afterAll(async () => {
  await broker?.stop();
  await front?.close();
  await evil?.close();
  await gha?.close();
});

const keyPair = () => ({ type: 'key-pair' as const, agent: 'deploy-bot', privateKey: key.privateJwk });
/** What `evil` was sent that a broker could take: assertions, proofs, ID tokens. */
const signedTo = (seen: readonly Seen[]) => seen.filter((s) => s.headers.authorization || s.headers.dpop || s.method !== 'GET');

describe('a key-pair client', () => {
  it('sends nothing signed to a server whose discovery names another issuer (audience injection)', async () => {
    evil.seen.length = 0;
    evil.state.metadata = () => ({ issuer: front.url, jwks_uri: `${front.url}/.well-known/jwks.json` });
    const client = createCreddyClient({ url: evil.url, auth: keyPair() });
    const refused = await client.get('demo').catch((err: unknown) => err);
    // Anything captured would be an assertion (and a DPoP proof) for the real broker: replayed there within its minute…
    for (const s of signedTo(evil.seen)) {
      const headers = { authorization: String(s.headers.authorization), 'content-type': 'application/json' };
      const replayed = await fetch(`${front.url}/v1/credentials`, { method: 'POST', headers, body: '{"backend":"demo"}' });
      expect(replayed.status, 'an assertion captured by another server was accepted by the real broker').not.toBe(201);
    }
    // …so nothing is captured: the client stopped at the metadata, and said what to do.
    expect(signedTo(evil.seen)).toEqual([]);
    expect(refused).toMatchObject({ code: 'ERR_ISSUER_MISMATCH', details: { url: evil.url, issuer: front.url, expected: evil.url } });
    expect((refused as Error).message).toMatch(/CREDDY_ISSUER/);
    await expect(client.issuer()).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' });
  });

  it("works at the broker's issuer URL (a trailing slash too), and at an internal address only with the issuer configured", async () => {
    for (const url of [front.url, `${front.url}/`]) {
      const client = createCreddyClient({ url, auth: keyPair() });
      await expect(client.issuer()).resolves.toBe(front.url);
      const issued = await client.issue({ backend: 'demo' });
      expect(decodeJwt(issued.token)).toMatchObject({ iss: front.url, sub: 'deploy-bot', cnf: { jkt: key.jkt } });
    }
    const internal = createCreddyClient({ url: broker.url, auth: keyPair() });
    await expect(internal.get('demo')).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH', details: { issuer: front.url } });
    const configured = createCreddyClient({ url: broker.url, issuer: front.url, auth: keyPair() });
    await expect(configured.issue({ backend: 'demo' })).resolves.toMatchObject({ token_type: 'DPoP' });
    expect(() => createCreddyClient({ url: broker.url, issuer: `${front.url}/`, auth: keyPair() })).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE' }),
    );
  });

  it('with the issuer configured, signs nothing for a URL whose metadata names another broker', async () => {
    evil.seen.length = 0;
    // A stale URL that now leads to a staging broker: its metadata names its own issuer.
    evil.state.metadata = (own) => ({ issuer: own, jwks_uri: `${own}/.well-known/jwks.json` });
    const client = createCreddyClient({ url: evil.url, issuer: front.url, auth: keyPair() });
    const refused = await client.get('demo').catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: 'ERR_ISSUER_MISMATCH', details: { url: evil.url, issuer: evil.url, expected: front.url } });
    expect(signedTo(evil.seen)).toEqual([]);
  });
});

describe('an OIDC client', () => {
  const idTokenSource = () => {
    const calls = { count: 0 };
    const idToken = () => {
      calls.count++;
      return gha.sign(gha.githubClaims(front.url));
    };
    return { calls, idToken };
  };

  it('exchanges nothing with a server that names another issuer, or a token endpoint on another origin', async () => {
    const cases: Array<(url: string) => Record<string, unknown>> = [
      // The real broker's metadata, served by someone else.
      () => ({ issuer: front.url, token_endpoint: `${front.url}/oauth/token` }),
      // Its own issuer, but the token endpoint elsewhere: the ID token would go to that host.
      (url) => ({ issuer: url, token_endpoint: `${front.url}/oauth/token` }),
    ];
    for (const metadata of cases) {
      evil.seen.length = 0;
      evil.state.metadata = metadata;
      const source = idTokenSource();
      const client = createCreddyClient({ url: evil.url, auth: { type: 'oidc', idToken: source.idToken }, dpop: true });
      await expect(client.get('demo')).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' });
      expect(source.calls.count, 'the ID token was read to be sent').toBe(0);
      expect(signedTo(evil.seen)).toEqual([]);
    }
  });

  it("exchanges at the broker's own URL, or at an internal address with the issuer configured", async () => {
    const source = idTokenSource();
    const direct = createCreddyClient({ url: front.url, auth: { type: 'oidc', idToken: source.idToken } });
    await expect(direct.issue({ backend: 'demo' })).resolves.toMatchObject({ backend: 'demo' });
    const internal = createCreddyClient({ url: broker.url, auth: { type: 'oidc', idToken: source.idToken } });
    await expect(internal.issue({ backend: 'demo' })).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' });
    const configured = createCreddyClient({
      url: broker.url,
      issuer: front.url,
      auth: { type: 'oidc', idToken: source.idToken },
      dpop: true,
    });
    await expect(configured.issue({ backend: 'demo' })).resolves.toMatchObject({ token_type: 'DPoP' });
    expect(source.calls.count).toBe(2);
  });
});

describe('the CLI', () => {
  const actions = () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: gha.ghaRequestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: gha.ghaRequestToken });

  it('asks GitHub Actions for no ID token when CREDDY_URL names another issuer (sts.amazonaws.com), and sends no key-pair assertion', async () => {
    evil.seen.length = 0;
    evil.state.metadata = () => ({ issuer: 'https://sts.amazonaws.com' });
    const before = [...gha.ghaAudiences];
    const oidc = await runCli(['get', 'demo'], { CREDDY_URL: evil.url, ...actions() });
    expect(oidc.code).toBe(1);
    expect(oidc.stderr).toMatch(
      /ERR_ISSUER_MISMATCH: creddy at http:\/\/127\.0\.0\.1:\d+ says its issuer is "https:\/\/sts\.amazonaws\.com"/,
    );
    expect(gha.ghaAudiences).toEqual(before);

    evil.state.metadata = () => ({ issuer: front.url });
    const pair = await runCli(['get', 'demo'], { CREDDY_URL: evil.url, CREDDY_AGENT: 'deploy-bot', CREDDY_AGENT_KEY_FILE: tokenFile });
    expect(pair.code).toBe(1);
    expect(pair.stderr).toMatch(/ERR_ISSUER_MISMATCH/);
    expect(signedTo(evil.seen)).toEqual([]);
  });

  it("asks for the broker's issuer at its own URL, or CREDDY_ISSUER at an internal address (CREDDY_OIDC_AUDIENCE still wins)", async () => {
    const direct = await runCli(['get', 'demo'], { CREDDY_URL: front.url, ...actions() });
    expect(direct.code, direct.stderr).toBe(0);
    expect(gha.ghaAudiences.at(-1)).toBe(front.url);

    const internal = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, ...actions() });
    expect(internal.code).toBe(1);
    expect(internal.stderr).toMatch(/ERR_ISSUER_MISMATCH.*CREDDY_ISSUER/);
    const configured = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, CREDDY_ISSUER: front.url, ...actions() });
    expect(configured.code, configured.stderr).toBe(0);
    expect(gha.ghaAudiences.at(-1)).toBe(front.url);
    const pair = await runCli(['get', 'demo'], {
      CREDDY_URL: broker.url,
      CREDDY_ISSUER: front.url,
      CREDDY_AGENT: 'deploy-bot',
      CREDDY_AGENT_KEY_FILE: tokenFile,
    });
    expect(pair.code, pair.stderr).toBe(0);
    expect(decodeJwt(pair.stdout.trim()).sub).toBe('deploy-bot');

    const chosen = await runCli(['get', 'demo'], { CREDDY_URL: evil.url, CREDDY_OIDC_AUDIENCE: 'https://chosen.example', ...actions() });
    expect(gha.ghaAudiences.at(-1)).toBe('https://chosen.example');
    expect(chosen.code).toBe(1); // evil answers 503; the audience was the caller's choice
    const malformed = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, CREDDY_ISSUER: `${front.url}/`, ...actions() });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/ERR_USAGE: options\.issuer \(CREDDY_ISSUER for the CLI\)/);
  });
});
