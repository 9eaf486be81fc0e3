/**
 * No CLI path issues a credential it will not hand over: outputs that need one kind of backend
 * ask the broker first (GET /v1/backends/:name); where only the response can tell (an older
 * broker), what was issued is revoked at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

let broker: TestBroker;
let env: NodeJS.ProcessEnv;

const issuedRows = async () => broker.services.store.audit.query({ agent: 'laptop', type: 'credential.issued', limit: 1000 });

beforeAll(async () => {
  broker = await startBroker({
    backends: `  demo:
    type: generic
    allowed_scopes: [read]
    default_scopes: [read]
    max_ttl: 1h
  other:
    type: generic
    allowed_scopes: [read]`,
  });
  env = { CREDDY_URL: broker.url, CREDDY_TOKEN: await broker.agent('laptop', 'demo:read') };
});
afterAll(async () => broker.stop());

describe('GET /v1/backends/:name', () => {
  const get = async (name: string) => {
    const response = await fetch(`${broker.url}/v1/backends/${name}`, { headers: { authorization: `Bearer ${env['CREDDY_TOKEN']}` } });
    return { status: response.status, body: (await response.json()) as any };
  };

  it("tells a caller with a grant the backend's type and TTLs; no more than an issue would reveal otherwise", async () => {
    expect(await get('demo')).toEqual({
      status: 200,
      body: { name: 'demo', type: 'generic', default_ttl: 900, max_ttl: 3600, default_scopes: ['read'], grants: ['read'] },
    });
    expect((await get('other')).body.error.code).toBe('ERR_BACKEND_FORBIDDEN');
    expect((await get('nope')).body.error.code).toBe('ERR_BACKEND_UNKNOWN');
    // A name no backend can have is refused as such, and not echoed back.
    const long = await get('x'.repeat(3000));
    expect(long.status).toBe(400);
    expect(long.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: 'name' } });
    expect(JSON.stringify(long.body)).not.toContain('x'.repeat(64));
    expect((await fetch(`${broker.url}/v1/backends/demo`)).status).toBe(401);
  });

  it('over a real socket every /v1 answer is no-store: a 200, an issuance, a 413 refused before anything else', async () => {
    const authorization = `Bearer ${env['CREDDY_TOKEN']}`;
    const info = await fetch(`${broker.url}/v1/backends/demo`, { headers: { authorization } });
    const issued = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'demo' }),
    });
    const tooLarge = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: 'x'.repeat(70_000),
    });
    expect([info.status, issued.status, tooLarge.status]).toEqual([200, 201, 413]);
    for (const r of [info, issued, tooLarge]) expect(r.headers.get('cache-control')).toBe('no-store');
  });
});

describe('outputs that need a particular backend refuse before issuing', () => {
  it('get --format credential-process on a generic backend: usage error, nothing issued', async () => {
    const before = (await issuedRows()).length;
    const r = await runCli(['get', 'demo', '--format', 'credential-process'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format credential-process needs an aws backend; "demo" is generic (nothing was issued)');
    expect(await issuedRows()).toHaveLength(before);
  });

  it('git-credential get --backend demo: usage error, nothing issued', async () => {
    const before = (await issuedRows()).length;
    const r = await runCli(['git-credential', 'get', '--backend', 'demo'], env, 'protocol=https\nhost=github.com\n\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the git credential helper needs a github backend; "demo" is generic');
    expect(await issuedRows()).toHaveLength(before);
  });

  it("an unknown or forbidden backend fails with the broker's own code, before issuing", async () => {
    const r = await runCli(['get', 'other', '--format', 'credential-process'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_BACKEND_FORBIDDEN');
  });
});

describe('a broker that cannot say (no /v1/backends): what cannot be handed over is revoked at once', () => {
  let proxy: Server;
  let url: string;
  beforeAll(async () => {
    // Forwards to the broker, but answers /v1/backends as an older broker would: 404 ERR_NOT_FOUND.
    proxy = createServer(async (req, res) => {
      if (req.url?.startsWith('/v1/backends/')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'no route', request_id: 'x' } }));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type', 'accept'].includes(k)),
      ) as Record<string, string>;
      const upstream = await fetch(`${broker.url}${req.url}`, {
        method: req.method!,
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      res.writeHead(upstream.status, { 'content-type': 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((resolve) => proxy.close(() => resolve())));

  it('get --format credential-process revokes the credential it could not print, and says so', async () => {
    const r = await runCli(['get', 'demo', '--format', 'credential-process'], { ...env, CREDDY_URL: url });
    expect(r.code).toBe(2);
    const id = /credential (\S+) was issued but not handed over, and it was revoked at once/.exec(r.stderr)?.[1];
    expect(id).toBeDefined();
    expect(r.stdout).toBe('');
    expect((await broker.services.store.credentials.get(id!))?.revokedAt).not.toBeNull();
  });
});

describe('get --json and TTL notes', () => {
  it('--json is --format json; combined with another format it is a usage error', async () => {
    const r = await runCli(['get', 'demo', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'demo', scopes: ['read'] });
    const both = await runCli(['get', 'demo', '--json', '--format', 'env'], env);
    expect(both.code).toBe(2);
    expect(JSON.parse(both.stderr).error.code).toBe('ERR_USAGE');
  });

  it('a clamped TTL is noted on stderr (stdout keeps only the secret); --format json carries it in ttl', async () => {
    const r = await runCli(['get', 'demo', '--ttl', '2h'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(r.stderr).toBe('creddy: note: asked for 2h, granted 1h (max_ttl)\n');
    const json = await runCli(['get', 'demo', '--ttl', '2h', '--format', 'json'], env);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout).ttl).toEqual({ requested: 7200, granted: 3600, clamped_by: 'max_ttl' });
  });
});
