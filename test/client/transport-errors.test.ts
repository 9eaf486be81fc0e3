import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreddyClient, type CreddyError, createCreddyClient, isCreddyError } from '../../src/client/index.js';

/**
 * `creddy/client` promises that every failure is a CreddyError with a stable code. Here the
 * "broker" is a loopback server that answers as the things in front of a broker do: a proxy's
 * HTML 502, a load balancer's empty 503, a gateway's 429, a connection that stalls or drops in
 * the middle of the body. The client uses the global fetch, as a user's would.
 */
describe('the client when the answer is not creddy', () => {
  let url = '';
  let close: () => Promise<void>;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => {};
  const SECRET = `ckr_${'s'.repeat(43)}`;

  beforeAll(async () => {
    const server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  });
  afterAll(() => close());

  const client = (options: { timeoutMs?: number; maxResponseBytes?: number } = {}): CreddyClient =>
    createCreddyClient({ url, auth: SECRET, ...options });
  const failure = async (call: Promise<unknown>) => {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCreddyError(err), String(err)).toBe(true);
    return err as { code: string; message: string };
  };

  it('a broker that stalls in the middle of the body: ERR_NOT_READY after the timeout, saying the answer came and its body stopped', async () => {
    handler = (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"id":');
    };
    const err = await failure(client({ timeoutMs: 1000 }).issue({ backend: 'demo' }));
    expect(err.code).toBe('ERR_NOT_READY');
    expect(err.message).toMatch(new RegExp(`^creddy at ${url} answered 201, then its body stopped coming: .*timeout`));
    expect(err.message).not.toContain('no answer');
  });

  it('a broker that never answers: ERR_NOT_READY after the timeout, saying no answer came', async () => {
    handler = () => {};
    const err = await failure(client({ timeoutMs: 1000 }).issue({ backend: 'demo' }));
    expect(err.code).toBe('ERR_NOT_READY');
    expect(err.message).toMatch(new RegExp(`^cannot reach creddy at ${url}: no answer: .*timeout`));
    expect(err.message).not.toContain('answered');
  });

  it('a connection dropped in the middle of the body: ERR_NOT_READY, not a raw TypeError, and not said as a timeout', async () => {
    handler = (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"id":', () => res.socket?.destroy());
    };
    const err = await failure(client().issue({ backend: 'demo' }));
    expect(err.code).toBe('ERR_NOT_READY');
    expect(err.message).toMatch(new RegExp(`^creddy at ${url} answered 201, then its body broke off: `));
  });

  it.each([
    [502, 'text/html', '<html><body><h1>502 Bad Gateway</h1></body></html>', 'ERR_NOT_READY'],
    [503, 'text/plain', '', 'ERR_NOT_READY'],
    [504, 'text/html', '<html>Gateway Timeout</html>', 'ERR_NOT_READY'],
    [503, 'application/json', '{"message":"upstream connect error"}', 'ERR_NOT_READY'],
    [503, 'application/json', '{"error":{"code":"ERR_FROM_A_NEWER_BROKER","message":"later"}}', 'ERR_NOT_READY'],
    [504, 'application/json', '{"error":"upstream_timeout"}', 'ERR_NOT_READY'],
    [429, 'text/plain', 'Too Many Requests', 'ERR_RATE_LIMITED'],
    [401, 'text/plain', '', 'ERR_UNAUTHENTICATED'],
    [403, 'text/html', '<html>Forbidden by WAF</html>', 'ERR_FORBIDDEN'],
    [404, 'text/html', '<html>Not Found</html>', 'ERR_NOT_FOUND'],
    [413, 'text/html', '<html>Request Entity Too Large</html>', 'ERR_BODY_TOO_LARGE'],
    [405, 'text/plain', 'Method Not Allowed', 'ERR_BAD_REQUEST'],
    [500, 'text/html', '<html>Internal Server Error</html>', 'ERR_INTERNAL'],
  ])('%i %s %j → %s', async (status, type, body, code) => {
    handler = (_req, res) => res.writeHead(status, { 'content-type': type }).end(body);
    const err = await failure(client().issue({ backend: 'demo' }));
    expect(err.code).toBe(code);
    expect(err.message).toContain(String(status));
  });

  it("never copies a foreign body into the message: a proxy that echoes the request shows no token, and its size doesn't matter", async () => {
    handler = (req, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${JSON.stringify(req.headers)}\n${'x'.repeat(1024 * 1024)}`);
    };
    const err = await failure(client().issue({ backend: 'demo' }));
    expect(err.code).toBe('ERR_NOT_READY');
    expect(err.message).not.toContain(SECRET);
    expect(err.message.length).toBeLessThan(300);
  });

  it("bounds even creddy-shaped messages, and keeps creddy's own codes", async () => {
    handler = (_req, res) =>
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'ERR_SCOPE_DENIED', message: `scope ${'a'.repeat(100_000)}\u001b[31m`, request_id: 'r' } }));
    const err = await failure(client().issue({ backend: 'demo', scopes: ['a'] }));
    expect(err.code).toBe('ERR_SCOPE_DENIED');
    expect(err.message.length).toBeLessThan(600);
    expect(err.message).not.toContain('\u001b');
  });

  it("keeps the broker's details on the CreddyError (an object only)", async () => {
    const answer = (details: unknown) => (_req: IncomingMessage, res: ServerResponse) =>
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'ERR_SCOPE_DENIED', message: 'scope write is not granted', request_id: 'r', details } }));
    handler = answer({ scope: 'write', index: 0 });
    const err = (await failure(client().issue({ backend: 'demo', scopes: ['write'] }))) as CreddyError;
    expect(err).toMatchObject({ code: 'ERR_SCOPE_DENIED', details: { scope: 'write', index: 0 } });
    handler = answer(['not', 'an', 'object']);
    expect(((await failure(client().issue({ backend: 'demo' }))) as CreddyError).details).toBeUndefined();
  });

  it('an endless 200 is ERR_RESPONSE_TOO_LARGE once past the cap, not read to the end', async () => {
    let written = 0;
    let stopped = false;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => (stopped = true));
      const chunk = `"${'x'.repeat(64 * 1024)}",`;
      res.write('[');
      // Writes for as long as the client reads: ~20 chunks pass a 1 MiB cap.
      const more = (): void => {
        while (!stopped && written < 400) {
          written++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
      };
      more();
    };
    const err = (await failure(client({ maxResponseBytes: 1024 * 1024 }).list())) as CreddyError;
    expect(err).toMatchObject({ code: 'ERR_RESPONSE_TOO_LARGE', details: { status: 200, max_bytes: 1024 * 1024 } });
    await new Promise((r) => setTimeout(r, 50));
    // Well short of the 25 MB the server would have sent: the client stopped reading.
    expect(written).toBeLessThan(200);
  });

  it('a declared Content-Length above the cap is refused before reading; an error status keeps its meaning', async () => {
    handler = (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(5000) }).end('x'.repeat(5000));
    expect((await failure(client({ maxResponseBytes: 4096 }).issue({ backend: 'demo' }))).code).toBe('ERR_RESPONSE_TOO_LARGE');
    handler = (_req, res) => res.writeHead(503, { 'content-type': 'text/html' }).end('x'.repeat(5000));
    expect((await failure(client({ maxResponseBytes: 4096 }).issue({ backend: 'demo' }))).code).toBe('ERR_NOT_READY');
    // Within the cap, the same answer as before.
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"credentials":[]}');
    expect(await client({ maxResponseBytes: 4096 }).list()).toEqual({ credentials: [] });
  });

  it('a 2xx that is not JSON is ERR_INTERNAL, and list() and revoke() map like issue()', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>captive portal</html>');
    expect((await failure(client().issue({ backend: 'demo' }))).code).toBe('ERR_INTERNAL');
    handler = (_req, res) => res.writeHead(503).end();
    expect((await failure(client().list())).code).toBe('ERR_NOT_READY');
    handler = (_req, res) => res.writeHead(429, { 'retry-after': '5' }).end('slow down');
    expect((await failure(client().revoke('abc'))).code).toBe('ERR_RATE_LIMITED');
  });

  it('does not follow a redirect: a 3xx is a CreddyError naming the status and Location, without its query', async () => {
    const seen: Array<{ method: string; url: string; authorization: string | undefined }> = [];
    handler = (req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      if (req.url === '/v1/credentials') {
        res.writeHead(req.method === 'POST' ? 307 : 301, { location: `${url}/elsewhere?sig=s3cr3t#frag` }).end();
        return;
      }
      // Another JSON endpoint, whose answer would pass for an issuance.
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'x',
          token: 'e.y.z',
          token_type: 'Bearer',
          expires_at: '2099-01-01T00:00:00Z',
          backend: 'demo',
          scopes: [],
        }),
      );
    };
    const err = (await failure(client().issue({ backend: 'demo' }))) as CreddyError;
    expect(err).toMatchObject({ code: 'ERR_INTERNAL', details: { status: 307, location: `${url}/elsewhere` } });
    expect(err.message).toContain('307');
    expect(err.message).toContain(`${url}/elsewhere`);
    expect(err.message).not.toMatch(/s3cr3t|frag/);
    expect(((await failure(client().list())) as CreddyError).details).toMatchObject({ status: 301 });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/credentials', 'GET /v1/credentials']);
  });

  it.each([
    ['{"id":5}', 'id'],
    ['{"id":"a"}', 'token'],
    ['{"id":"a","token":"t","token_type":"Bearer","expires_at":"soon","backend":"demo","scopes":[]}', 'expires_at'],
    ['{"id":"a","token":"t","token_type":"Basic","expires_at":"2099-01-01T00:00:00Z","backend":"demo","scopes":[]}', 'token_type'],
    ['{"id":"a","token":"t","token_type":"Bearer","expires_at":"2099-01-01T00:00:00Z","backend":"demo","scopes":"read"}', 'scopes'],
    ['[]', 'the body'],
  ])('a successful issuance of the wrong shape (%s) is ERR_INTERNAL naming %s, not a value with holes', async (body, field) => {
    handler = (_req, res) => res.writeHead(201, { 'content-type': 'application/json' }).end(body);
    const err = (await failure(client().get('demo'))) as CreddyError;
    expect(err).toMatchObject({ code: 'ERR_INTERNAL', details: { field } });
    expect(err.message).toContain(`malformed credential: ${field}`);
  });

  it('the other answers are shape-checked too, and a malformed one never echoes its values', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"credentials":[{"id":"a"}]}');
    expect(await failure(client().list())).toMatchObject({ code: 'ERR_INTERNAL', details: { field: 'credentials[0].backend' } });
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"${SECRET}"}`);
    const revoked = await failure(client().revoke('abc'));
    expect(revoked).toMatchObject({ code: 'ERR_INTERNAL', details: { field: 'revoked_at' } });
    expect(revoked.message).not.toContain(SECRET);
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"jti":"a","revoked":"no"}');
    expect(await failure(client().revocationStatus('a'))).toMatchObject({ code: 'ERR_INTERNAL', details: { field: 'revoked' } });
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"demo"}');
    expect((await failure(client().backend('demo'))).code).toBe('ERR_INTERNAL');
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('"just a string"');
    expect((await failure(client().discovery())).code).toBe('ERR_INTERNAL');
  });

  it("keeps the broker's request id (body, else X-Request-Id) on CreddyError.requestId", async () => {
    handler = (_req, res) =>
      res
        .writeHead(500, { 'content-type': 'application/json', 'x-request-id': 'from-header' })
        .end(JSON.stringify({ error: { code: 'ERR_INTERNAL', message: 'internal error', request_id: '3f1c-req' } }));
    expect(await failure(client().issue({ backend: 'demo' }))).toMatchObject({ code: 'ERR_INTERNAL', requestId: '3f1c-req' });
    handler = (_req, res) =>
      res
        .writeHead(400, { 'content-type': 'application/json', 'x-request-id': 'oauth-req' })
        .end(JSON.stringify({ error: 'invalid_request', error_description: 'no' }));
    expect(await failure(client().issue({ backend: 'demo' }))).toMatchObject({ code: 'ERR_BAD_REQUEST', requestId: 'oauth-req' });
    handler = (_req, res) => res.writeHead(502, { 'x-request-id': 'not an id <b>' }).end();
    expect(((await failure(client().issue({ backend: 'demo' }))) as CreddyError).requestId).toBeUndefined();
  });

  it('a refused connection names ECONNREFUSED; a token source or resource server that fails is a CreddyError too', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const nowhere = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const refused = (await failure(createCreddyClient({ url: nowhere, auth: SECRET }).list())) as CreddyError;
    expect(refused.code).toBe('ERR_NOT_READY');
    expect(refused.message).toContain('ECONNREFUSED');

    // The broker's metadata, so the client gets as far as asking for the ID token.
    handler = (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: url, token_endpoint: `${url}/token` }));
    const broken = new Error('ENOENT: no such file /var/run/secrets/tokens/creddy');
    const federated = createCreddyClient({ url, auth: { type: 'oidc', idToken: () => Promise.reject(broken) } });
    const source = (await failure(federated.issue({ backend: 'demo' }))) as CreddyError;
    expect(source).toMatchObject({ code: 'ERR_UNAUTHENTICATED', cause: broken });
    expect(source.message).toContain('options.auth.idToken() failed: ENOENT');
    const bearer = createCreddyClient({ url, auth: () => Promise.reject(new Error('vault sealed')) });
    expect(await failure(bearer.list())).toMatchObject({ code: 'ERR_UNAUTHENTICATED' });

    // client.fetch: the credential comes from the fake broker, the resource server is not there.
    handler = (_req, res) =>
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'a',
          token: 'e.e30.s',
          token_type: 'Bearer',
          expires_at: '2099-01-01T00:00:00Z',
          backend: 'demo',
          scopes: [],
        }),
      );
    const presenting = client();
    const offline = (await failure(presenting.fetch(`${nowhere}/files/a?key=s3cr3t`, { credential: { backend: 'demo' } }))) as CreddyError;
    expect(offline.code).toBe('ERR_NOT_READY');
    expect(offline.message).toContain('ECONNREFUSED');
    expect(offline.message).toContain(`${nowhere}/files/a`);
    expect(offline.message).not.toContain('s3cr3t');
    // The caller's own abort is not a resource server that did not answer: it rejects as fetch does.
    const aborted = await presenting.fetch(`${url}/files/a`, { credential: { backend: 'demo' }, signal: AbortSignal.abort() }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isCreddyError(aborted)).toBe(false);
    expect(aborted?.name).toBe('AbortError');
  });
});
