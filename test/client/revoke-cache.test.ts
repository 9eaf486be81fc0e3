import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreddyClient } from '../../src/client/client.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { startResourceServer } from './resource-server.js';

/**
 * The client's cache and revocation, against a real broker and a creddy/hono resource server that
 * checks the deny-list (`introspect`): a credential revoked through this client is never handed
 * out again; one revoked elsewhere is dropped when the resource server refuses it as
 * `invalid_token`. And the broker's request id reaches the CLI's error line.
 */
const ISSUER = 'http://127.0.0.1:8400';

describe('the client cache and revocation', () => {
  let broker: TestBroker;
  let token: string;
  let api: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    broker = await startBroker();
    token = await broker.agent('bot', 'demo:read');
    api = await startResourceServer({ issuer: ISSUER, url: broker.url, audience: 'demo', scopes: ['read'], introspect: true });
  });
  afterAll(async () => {
    await api?.close();
    await broker?.stop();
  });

  const client = () => createCreddyClient({ url: broker.url, issuer: ISSUER, auth: token });

  it('revoke(id) drops the credential from the cache: the next get is a new one', async () => {
    const c = client();
    const first = await c.get('demo', { scopes: ['read'] });
    expect((await c.revoke(first.id)).id).toBe(first.id);
    const second = await c.get('demo', { scopes: ['read'] });
    expect(second.id).not.toBe(first.id);
    expect((await c.revocationStatus(second.id)).revoked).toBe(false);
  });

  it('invalidate(id) and clearCache() make the next get ask the broker, without revoking', async () => {
    const c = client();
    const first = await c.get('demo', { scopes: ['read'] });
    expect(c.invalidate(first.id)).toBe(true);
    expect(c.invalidate(first.id)).toBe(false);
    const second = await c.get('demo', { scopes: ['read'] });
    expect(second.id).not.toBe(first.id);
    expect((await c.revocationStatus(first.id)).revoked).toBe(false);
    c.clearCache();
    expect((await c.get('demo', { scopes: ['read'] })).id).not.toBe(second.id);
  });

  it('fetch: a credential revoked elsewhere is refused as invalid_token, dropped, and the request sent once more', async () => {
    const c = client();
    const credential = { backend: 'demo', scopes: ['read'] };
    const first = await c.fetch(`${api.url}/files/a.txt`, { credential });
    expect(first.status).toBe(200);
    const { claims } = (await first.json()) as { claims: { jti: string } };
    // Revoked by another process (`creddy revoke`): this client's cache does not know.
    await client().revoke(claims.jti);
    const again = await c.fetch(`${api.url}/files/a.txt`, { method: 'POST', body: 'x', credential });
    expect(again.status).toBe(200);
    const renewed = ((await again.json()) as { claims: { jti: string } }).claims.jti;
    expect(renewed).not.toBe(claims.jti);
    // The new credential is the cached one now.
    expect((await c.get('demo', { scopes: ['read'] })).id).toBe(renewed);
  });

  it('fetch: a streamed body is never sent twice: the 401 comes back, and the refused credential is dropped', async () => {
    const c = client();
    const credential = { backend: 'demo', scopes: ['read'] };
    const { claims } = (await (await c.fetch(`${api.url}/files/a.txt`, { credential })).json()) as { claims: { jti: string } };
    await client().revoke(claims.jti);
    // An async iterable, which Node's fetch streams (duplex: 'half') and cannot replay.
    async function* upload() {
      yield new TextEncoder().encode('x'.repeat(2000));
    }
    const init = { method: 'PUT', body: upload() as unknown as NonNullable<RequestInit['body']>, duplex: 'half' as const, credential };
    const refused = await c.fetch(`${api.url}/files/a.txt`, init);
    expect(refused.status).toBe(401);
    // The next call asks for a new credential rather than presenting the refused one again.
    const after = await c.fetch(`${api.url}/files/a.txt`, { credential });
    expect(after.status).toBe(200);
    expect(((await after.json()) as { claims: { jti: string } }).claims.jti).not.toBe(claims.jti);
  });

  it("the CLI prints the broker's request id after an error from the broker", async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token, CREDDY_ISSUER: ISSUER };
    const text = await runCli(['get', 'nope'], env);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^creddy: ERR_BACKEND_(UNKNOWN|FORBIDDEN): .* \(request id [\w.:-]+\)$/m);
    const json = await runCli(['get', 'nope', '--json'], env);
    expect(JSON.parse(json.stderr.trim().split('\n')[0] ?? '')).toMatchObject({ error: { request_id: expect.any(String) } });
    // Not for an error the broker never saw.
    const usage = await runCli(['get', 'demo', '--scopes', ''], env);
    expect(usage.stderr).not.toContain('request id');
  });
});
