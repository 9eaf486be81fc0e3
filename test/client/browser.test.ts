import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { calculateJwkThumbprint, importJWK, jwtVerify } from 'jose';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyClientAssertion } from '../../src/verify/client-assertion.js';
import { verifyDpopProof } from '../../src/verify/dpop.js';
import { createReplayCache } from '../../src/verify/replay-cache.js';
import { createVerifier } from '../../src/verify/verifier.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * The built client (dist/client, bundled by esbuild for the browser platform, which fails on any
 * Node built-in) running in headless Chromium: it gets a credential from a loopback broker as a
 * bearer agent, and signs a client assertion and a DPoP proof with an Ed25519 key generated in
 * the page (@noble/ed25519 + WebCrypto), which Node then verifies with jose and creddy's verifier.
 * The page and the broker share one origin through a small proxy, as they would behind one host,
 * since the broker serves no CORS. Chromium is Debian's `chromium`, driven by playwright-core;
 * nothing is installed at run time. Without it the file skips locally and fails under CI.
 */
const CHROMIUM = process.env['CREDDY_CHROMIUM'] ?? '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '../..');
const ISSUER = 'http://127.0.0.1:8400';
const present = existsSync(CHROMIUM);
const ci = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false';
if (!present && !ci)
  console.warn(`skipping the browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CREDDY_CHROMIUM)`);

/** The page: a module script that loads the bundle from its own origin, as an app would, and exposes one function to the test. */
const PAGE = `<!doctype html><title>creddy</title><script type="module">
import * as creddy from '/__creddy-client.js';
globalThis.runCreddy = async (token, issuer) => {
  const client = creddy.createCreddyClient({ url: location.origin, auth: token });
  const issued = await client.get('demo', { scopes: ['read'], ttl: '5m' });
  const cached = await client.get('demo', { scopes: ['read'], ttl: '5m' });
  const key = await creddy.generateAgentKey();
  const signer = await creddy.createAgentSigner(key.privateJwk);
  return {
    environment: { process: typeof globalThis.process, require: typeof globalThis.require, subtle: typeof crypto.subtle?.digest === 'function' },
    issued,
    cachedId: cached.id,
    key: { publicJwk: key.publicJwk, jkt: key.jkt },
    assertion: await creddy.createClientAssertion(signer, { agent: 'browser-bot', audience: issuer }),
    proof: await creddy.createDpopProof(signer, { method: 'GET', url: 'https://api.example.com/files?x=1', accessToken: issued.token }),
  };
};
</script>`;

interface PageResult {
  readonly environment: { process: string; require: string; subtle: boolean };
  readonly issued: { id: string; token: string; backend: string; scopes: string[] };
  readonly cachedId: string;
  readonly key: { publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string }; jkt: string };
  readonly assertion: string;
  readonly proof: string;
}

describe.skipIf(!present && !ci)('creddy/client in headless Chromium', () => {
  let broker: TestBroker;
  let agentToken: string;
  let site: Server;
  let origin: string;
  let profile: string;
  let context: BrowserContext;

  beforeAll(async () => {
    if (!present) throw new Error(`Chromium is required under CI but missing at ${CHROMIUM}; .ci/run installs Debian's chromium package`);
    if (!existsSync(join(ROOT, 'dist/client/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
    broker = await startBroker();
    agentToken = await broker.agent('browser', 'demo:read');
    const bundle = await build({
      entryPoints: [join(ROOT, 'dist/client/index.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;

    site = createServer((req, res) => {
      if (req.url === '/__page') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      if (req.url === '/__creddy-client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      void proxy(req, res, broker.url);
    });
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'creddy-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise((done) => (site ? site.close(done) : done(undefined)));
    await broker?.stop();
  });

  it('gets a credential as a bearer agent and signs an assertion and a DPoP proof that Node verifies', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${origin}/__page`);
    await page.waitForFunction(() => 'runCreddy' in globalThis);
    const result = await page.evaluate(
      ([token, issuer]) => (globalThis as unknown as { runCreddy(t: string, i: string): Promise<PageResult> }).runCreddy(token, issuer),
      [agentToken, ISSUER] as const,
    );
    expect(errors).toEqual([]);
    expect(result.environment).toEqual({ process: 'undefined', require: 'undefined', subtle: true });

    // The credential came from the broker and verifies in Node; the second get() was the cache.
    expect(result.issued).toMatchObject({ backend: 'demo', scopes: ['read'] });
    expect(result.cachedId).toBe(result.issued.id);
    const verifier = createVerifier({ issuer: ISSUER, url: broker.url, audience: 'demo', scopes: ['read'] });
    await expect(verifier.verify(result.issued.token)).resolves.toMatchObject({ sub: 'browser', jti: result.issued.id });

    // The page's key signed the assertion: jose and creddy's assertion verifier agree.
    const { payload } = await jwtVerify(result.assertion, await importJWK(result.key.publicJwk, 'EdDSA'), {
      algorithms: ['EdDSA'],
      issuer: 'browser-bot',
      subject: 'browser-bot',
      audience: ISSUER,
    });
    expect(payload.exp! - payload.iat!).toBe(60);
    const checks = { audience: [ISSUER], publicKey: () => result.key.publicJwk, replay: createReplayCache() };
    await expect(verifyClientAssertion(result.assertion, checks)).resolves.toMatchObject({ agent: 'browser-bot' });

    // And the DPoP proof, bound to the same key and to the token it was made for.
    expect(await calculateJwkThumbprint(result.key.publicJwk, 'sha256')).toBe(result.key.jkt);
    const proofChecks = {
      accessToken: result.issued.token,
      jkt: result.key.jkt,
      maxAge: 60,
      clockTolerance: 5,
      replay: createReplayCache(),
      now: Date.now,
    };
    await expect(
      verifyDpopProof({ proof: result.proof, method: 'GET', url: 'https://api.example.com/files' }, proofChecks),
    ).resolves.toMatchObject({
      jkt: result.key.jkt,
    });
    await page.close();
  }, 60_000);
});

/** Forwards a request to the broker and its answer back: the page sees one origin. */
async function proxy(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'content-type', 'accept', 'dpop']) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  try {
    const answer = await fetch(`${target}${req.url}`, {
      method: req.method ?? 'GET',
      headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await answer.arrayBuffer()));
  } catch (err) {
    res.writeHead(502).end(String(err));
  }
}
