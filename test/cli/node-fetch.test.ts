/**
 * The CLI's node:http transport (cli/node-fetch.ts) at the wire, against a loopback server: what
 * the client SDK reads from an answer, errors and redirects as they are, timeouts, and the
 * client's error mapping on top of it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/cli/node-fetch.js';
import { createCreddyClient } from '../../src/client/client.js';

let server: Server;
let base: string;
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/elsewhere' }).end();
      } else if (req.url === '/stall') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"a":');
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('{}'), 5_000).unref();
      } else if (req.url === '/v1/credentials') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_SCOPE_DENIED', message: 'scope "write" is not granted' } }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-two': ['a', 'b'] });
        res.end(JSON.stringify({ echo: body, é: 'ü' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

describe('nodeFetch', () => {
  it('sends method, headers and body; answers with status, headers and the UTF-8 body', async () => {
    const res = await nodeFetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', accept: 'application/json' },
      body: '{"a":"ü"}',
    });
    expect(res.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe('application/json');
    expect(res.headers.get('x-two')).toBe('a, b');
    expect(res.headers.get('missing')).toBeNull();
    expect(await res.json()).toEqual({ echo: '{"a":"ü"}', é: 'ü' });
    const request = seen.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', url: '/echo', body: '{"a":"ü"}' });
    expect(request.headers['content-length']).toBe(String(Buffer.byteLength('{"a":"ü"}')));
    expect(request.headers['content-type']).toBe('application/json');
  });

  it('does not follow a redirect', async () => {
    const res = await nodeFetch(`${base}/redirect`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(302);
    expect(res.ok).toBe(false);
    expect(res.headers.get('location')).toBe('/elsewhere');
    expect(seen.at(-1)!.url).toBe('/redirect');
  });

  it('gives up when the signal says so, and rejects when nothing listens', async () => {
    await expect(nodeFetch(`${base}/slow`, { signal: AbortSignal.timeout(50) })).rejects.toThrow();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(nodeFetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(/ECONNREFUSED/);
    await expect(nodeFetch('ftp://127.0.0.1/')).rejects.toThrow(/unsupported protocol/);
  });

  it('answers at the headers, as fetch does: a body that then stalls fails its read, not the request', async () => {
    const signal = AbortSignal.timeout(200);
    const res = await nodeFetch(`${base}/stall`, { signal });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(signal.aborted).toBe(true);
  });

  it('carries the client: broker errors keep their code, an unreachable broker is ERR_NOT_READY', async () => {
    const client = createCreddyClient({ url: base, auth: 'ckr_x', fetch: nodeFetch });
    await expect(client.issue({ backend: 'demo', scopes: ['write'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
    expect(seen.at(-1)!.headers.authorization).toBe('Bearer ckr_x');
    const nowhere = createCreddyClient({ url: 'http://127.0.0.1:1', auth: 'ckr_x', fetch: nodeFetch });
    await expect(nowhere.issue({ backend: 'demo' })).rejects.toMatchObject({ code: 'ERR_NOT_READY' });
  });
});
