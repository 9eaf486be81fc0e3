import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeAgent } from '../../src/agents/revoke.js';
import { BODY_LIMIT_BYTES, createApp } from '../../src/http/app.js';
import type { Services } from '../../src/services.js';
import { runCli } from '../helpers/cli.js';
import { issue, openServices, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * The broker's edge: body limit, JSON shape, content type, bearer format, agent lifecycle and
 * 5xx hygiene. Most cases need no socket and drive `createApp(services)` with `app.request()`
 * on real services (SQLite store, keys, audit) with a clock the test moves; the socket cases
 * use a real server.
 */

/** Real services on a temp data dir, with a movable clock and captured log lines, and the app on them. */
async function inProcessBroker() {
  const clock = {
    ms: Date.now(),
    now() {
      return this.ms;
    },
  };
  // Each case checks one failure's own 401 and row; the throttle that would turn a run of them
  // into 429s has its own tests (throttle.test.ts).
  const opened = await openServices({ clock, extra: 'auth_throttle: {max_failures: 100000}' });
  return { ...opened, app: createApp(opened.services), clock, lines: opened.logLines };
}

type Broker = Awaited<ReturnType<typeof inProcessBroker>>;
type ErrorBody = { error: { code: string; message: string; request_id: string; details?: Record<string, unknown> } };

describe('broker edges (app.request, no socket)', () => {
  let b: Broker;
  let token: string;

  const post = async (body: string | undefined, headers: Record<string, string> = {}, path = '/v1/credentials') => {
    const response = await b.app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body }),
    });
    return { status: response.status, body: (await response.json()) as ErrorBody & Record<string, unknown>, headers: response.headers };
  };
  const postJson = (value: unknown, path?: string) => post(JSON.stringify(value), {}, path);
  const authFailures = () => b.services.store.audit.query({ type: 'auth.failed', limit: 1000 });

  beforeAll(async () => {
    b = await inProcessBroker();
    token = await b.agent('edge-bot', 'demo:read,demo:write');
  });
  afterAll(async () => b?.close());

  describe('body size', () => {
    it('> 64 KiB → 413 ERR_BODY_TOO_LARGE, with and without Content-Length', async () => {
      const big = JSON.stringify({ backend: 'demo', metadata: { pad: 'x'.repeat(BODY_LIMIT_BYTES) } });
      const declared = await post(big, { 'content-length': String(Buffer.byteLength(big)) });
      expect(declared.status).toBe(413);
      expect(declared.body.error.code).toBe('ERR_BODY_TOO_LARGE');

      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 20_000, (i + 1) * 20_000)));
          controller.close();
        },
      });
      const response = await b.app.request('/v1/credentials', {
        method: 'POST',
        body: stream,
        duplex: 'half',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      } as RequestInit);
      expect(response.status).toBe(413);
      expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_BODY_TOO_LARGE');
    });

    it('exactly 64 KiB passes the limit and is judged on its shape instead', async () => {
      const shell = JSON.stringify({ backend: 'demo', pad: '' });
      const exact = JSON.stringify({ backend: 'demo', pad: 'x'.repeat(BODY_LIMIT_BYTES - Buffer.byteLength(shell)) });
      expect(Buffer.byteLength(exact)).toBe(BODY_LIMIT_BYTES);
      const response = await post(exact);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: 'pad' } });
    });
  });

  describe('media type and JSON', () => {
    it('a wrong or missing content-type → 415', async () => {
      const body = JSON.stringify({ backend: 'demo' });
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
        const response = await post(body, { 'content-type': type });
        expect(response.status, type).toBe(415);
        expect(response.body.error.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
      }
      const none = await b.app.request('/v1/credentials', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
      expect(none.status).toBe(415);
    });

    it('non-JSON or empty body → 400 naming body', async () => {
      for (const body of ['{"backend":', 'backend=demo', '', '\u0000', '{"backend":"demo"}}']) {
        const response = await post(body);
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: 'body' } });
      }
    });
  });

  describe('JSON shape → 400 with details.field', () => {
    const metadata16 = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    const cases: Array<[string, unknown, string, string?]> = [
      ['an array', [{ backend: 'demo' }], 'body'],
      ['a string', 'demo', 'body'],
      ['null', null, 'body'],
      ['missing backend', { scopes: ['read'] }, 'backend'],
      ['backend not a string', { backend: 42 }, 'backend'],
      ['backend empty', { backend: '' }, 'backend'],
      ['backend too long', { backend: 'd'.repeat(65) }, 'backend'],
      ['scopes not an array', { backend: 'demo', scopes: 'read' }, 'scopes'],
      ['scopes an object', { backend: 'demo', scopes: { 0: 'read' } }, 'scopes'],
      ['ttl an object', { backend: 'demo', ttl: { seconds: 60 } }, 'ttl'],
      ['ttl an array', { backend: 'demo', ttl: [600] }, 'ttl'],
      ['ttl a boolean', { backend: 'demo', ttl: true }, 'ttl'],
      ['an unknown field', { backend: 'demo', admin: true }, 'admin'],
      ['a __proto__ field', JSON.parse('{"backend":"demo","__proto__":{"admin":true}}'), '__proto__'],
      ['metadata an array', { backend: 'demo', metadata: ['a'] }, 'metadata'],
      ['metadata a string', { backend: 'demo', metadata: 'task=x' }, 'metadata'],
      ['metadata with 17 entries', { backend: 'demo', metadata: metadata16 }, 'metadata'],
      ['a metadata key with a space', { backend: 'demo', metadata: { 'bad key': 'v' } }, 'metadata.bad key'],
      ['a metadata key too long', { backend: 'demo', metadata: { ['k'.repeat(65)]: 'v' } }, `metadata.${'k'.repeat(64)}`],
      ['a metadata value not a string', { backend: 'demo', metadata: { task: 1 } }, 'metadata.task'],
      ['a metadata value too long', { backend: 'demo', metadata: { task: 'v'.repeat(257) } }, 'metadata.task'],
      [
        'metadata over 2 KiB in total',
        {
          backend: 'demo',
          metadata: {
            a: 'v'.repeat(250),
            b: 'v'.repeat(250),
            c: 'v'.repeat(250),
            d: 'v'.repeat(250),
            e: 'v'.repeat(250),
            f: 'v'.repeat(250),
            g: 'v'.repeat(250),
            h: 'v'.repeat(250),
            i: 'v'.repeat(250),
          },
        },
        'metadata',
      ],
      [
        'metadata inflated by JSON escapes',
        { backend: 'demo', metadata: { a: '\u0001'.repeat(200), b: '\u0001'.repeat(200) } },
        'metadata',
      ],
      ['a backend differing from the URL', { backend: 'other' }, 'backend', '/v1/credentials/demo'],
    ];

    it.each(cases)('%s', async (_name, body, field, path) => {
      const response = await postJson(body, path);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field } });
    });

    it('scope and TTL problems name their field too', async () => {
      const scope = await postJson({ backend: 'demo', scopes: [1] });
      expect(scope.status).toBe(400);
      expect(scope.body.error).toMatchObject({ code: 'ERR_SCOPE_INVALID', details: { field: 'scopes' } });
      // Only a string is echoed back as the scope: an object is not turned into "[object Object]".
      const object = await postJson({ backend: 'demo', scopes: ['read', { a: 1 }] });
      expect(object.body.error).toMatchObject({ code: 'ERR_SCOPE_INVALID', details: { field: 'scopes', index: 1 } });
      expect(JSON.stringify(object.body)).not.toContain('[object Object]');
      const ttl = await postJson({ backend: 'demo', ttl: '1x' });
      expect(ttl.status).toBe(400);
      expect(ttl.body.error).toMatchObject({ code: 'ERR_TTL_INVALID', details: { field: 'ttl' } });
    });

    it('a well-formed request still succeeds (control)', async () => {
      const ok = await postJson({ backend: 'demo', scopes: ['read'], ttl: 600, metadata: { task: 'edge' } });
      expect(ok.status).toBe(201);
      const alias = await postJson({ scopes: ['read'] }, '/v1/credentials/demo');
      expect(alias.status).toBe(201);
    });

    it('no cache may keep an answer of /v1: the token and downstream secret, a list, an error', async () => {
      const issued = await postJson({ backend: 'demo' });
      const list = await b.app.request('/v1/credentials', { headers: { authorization: `Bearer ${token}` } });
      const refused = await postJson({ backend: 'demo', scopes: ['admin'] });
      expect([issued.status, list.status, refused.status]).toEqual([201, 200, 403]);
      for (const headers of [issued.headers, list.headers, refused.headers]) expect(headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('bearer token', () => {
    const send = (authorization: string | undefined) =>
      b.app.request('/v1/credentials', { headers: authorization === undefined ? {} : { authorization } });

    it('missing → 401 ERR_UNAUTHENTICATED with a Bearer challenge (RFC 6750 §3)', async () => {
      const response = await send(undefined);
      expect(response.status).toBe(401);
      expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="creddy"');
    });

    it('malformed (prefix, length, characters) → 401 ERR_UNAUTHENTICATED', async () => {
      // (Trailing whitespace is not a case: the Fetch Headers API strips it before the app sees it.)
      const body = token.slice(4);
      const malformed = [
        token,
        `Basic ${token}`,
        `Token ${token}`,
        'Bearer',
        'Bearer ',
        `Bearer  ${token}`,
        `Bearer ${token}x`,
        `Bearer ${token}\tx`,
        `Bearer ${token.slice(0, -1)}`,
        `Bearer ckr${body}`,
        `Bearer CKR_${body}`,
        `Bearer ckr_${body.slice(0, -1)}!`,
        `Bearer ckr_${body.slice(0, -1)}=`,
        `Bearer ${token},${token}`,
        `Bearer ckr_${'A'.repeat(10_000)}`,
        `Bearer ${'x'.repeat(10 * 1024)}`,
      ];
      for (const authorization of malformed) {
        const response = await send(authorization);
        expect(response.status, authorization.slice(0, 60)).toBe(401);
        expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_UNAUTHENTICATED');
        expect(response.headers.get('www-authenticate')).toBe('Bearer realm="creddy", error="invalid_token"');
      }
    });

    it('the scheme is case-insensitive (RFC 9110)', async () => {
      expect((await send(`bearer ${token}`)).status).toBe(200);
      expect((await send(`BEARER ${token}`)).status).toBe(200);
    });

    it('unknown but well-formed → 401 and an auth.failed audit row tied to the request id', async () => {
      const unknown = `ckr_${randomBytes(32).toString('base64url')}`;
      const response = await send(`Bearer ${unknown}`);
      expect(response.status).toBe(401);
      const body = (await response.json()) as ErrorBody;
      expect(body.error.code).toBe('ERR_UNAUTHENTICATED');
      expect(response.headers.get('x-request-id')).toBe(body.error.request_id);
      const row = (await authFailures()).find((r) => r.requestId === body.error.request_id);
      expect(row).toMatchObject({ type: 'auth.failed', outcome: 'denied', reason: 'ERR_UNAUTHENTICATED', agent: null });
      // Why, as the caller was told: an unknown token is not a malformed one.
      expect(row?.details).toMatchObject({ why: 'unknown bearer token' });
      expect(JSON.stringify(row)).not.toContain(unknown);
      const malformed = await send('Bearer ckr_short');
      const malformedRow = (await authFailures()).find((r) => r.requestId === malformed.headers.get('x-request-id'));
      expect(malformedRow?.details).toMatchObject({ why: 'malformed bearer token' });
    });

    it('a token pasted into the path across the 256-character cut is not kept in part in the auth.failed row', async () => {
      // The path is cut before it is redacted (unauthenticated input): the 11 characters of the
      // token left at the cut are too short to match, so they are masked by their prefix.
      const pasted = `ckr_${randomBytes(32).toString('base64url')}`;
      const path = `/v1/credentials/${'p'.repeat(228)}-${pasted}`;
      const response = await b.app.request(path, { method: 'DELETE', headers: { authorization: 'Bearer ckr_short' } });
      expect(response.status).toBe(401);
      const row = (await authFailures()).find((r) => r.requestId === response.headers.get('x-request-id'));
      expect(row?.details).toMatchObject({ path: `/v1/credentials/${'p'.repeat(228)}-[REDACTED]` });
      expect(JSON.stringify(row)).not.toContain('ckr_');
    });
  });

  describe('agent lifecycle', () => {
    it('a revoked agent → 401 ERR_AGENT_REVOKED on the next request, audited with its name', async () => {
      const doomed = await b.agent('doomed', 'demo:read');
      expect((await b.app.request('/v1/credentials', { headers: { authorization: `Bearer ${doomed}` } })).status).toBe(200);
      await revokeAgent(b.services, 'doomed', 'cli');
      const response = await b.app.request('/v1/credentials', { headers: { authorization: `Bearer ${doomed}` } });
      expect(response.status).toBe(401);
      const body = (await response.json()) as ErrorBody;
      expect(body.error.code).toBe('ERR_AGENT_REVOKED');
      const row = (await authFailures()).find((r) => r.requestId === body.error.request_id);
      expect(row).toMatchObject({ reason: 'ERR_AGENT_REVOKED', agent: 'doomed' });
    });

    it('an expired agent → 401 ERR_AGENT_REVOKED once its clock passes expires_at', async () => {
      const shortLived = await b.agent('short-lived', 'demo:read', 120);
      const ask = () => b.app.request('/v1/credentials', { headers: { authorization: `Bearer ${shortLived}` } });
      expect((await ask()).status).toBe(200);
      b.clock.ms += 119_000;
      expect((await ask()).status).toBe(200);
      b.clock.ms += 1_000;
      const response = await ask();
      expect(response.status).toBe(401);
      expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_AGENT_REVOKED');
    });
  });

  it('unknown routes and methods → 404 ERR_NOT_FOUND', async () => {
    for (const [method, path] of [
      ['GET', '/v2/credentials'],
      ['PUT', '/v1/credentials'],
      ['PATCH', '/v1/credentials/abc'],
    ] as const) {
      const response = await b.app.request(path, { method, headers: { authorization: `Bearer ${token}` } });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_NOT_FOUND');
    }
  });
});

describe('5xx bodies carry no internal detail', () => {
  it('a failing store → 500 with a generic message and the request id; the detail goes to the log only', async () => {
    const b = await inProcessBroker();
    const token = await b.agent('bot', 'demo:read');
    await b.services.store.close(); // the database goes away under a running app
    const response = await b.app.request('/v1/credentials', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'demo' }),
    });
    expect(response.status).toBe(500);
    const body = (await response.json()) as ErrorBody;
    expect(body).toEqual({ error: { code: 'ERR_INTERNAL', message: 'internal error', request_id: expect.any(String) } });
    const logged = b.lines.find((line) => line.includes(body.error.request_id));
    expect(logged).toBeDefined();
    expect(logged).not.toContain(token);

    const ready = await b.app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).not.toMatch(/sqlite|database|\/tmp\//i);
  });
});

describe('broker edges over a real socket', () => {
  let broker: TestBroker;
  let token: string;
  beforeAll(async () => {
    broker = await startBroker();
    token = await broker.agent('socket-bot', 'demo:read');
  });
  afterAll(async () => broker?.stop());

  it('an oversized body → 413 over HTTP', async () => {
    const response = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'demo', pad: 'x'.repeat(BODY_LIMIT_BYTES + 1) }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorBody).error.code).toBe('ERR_BODY_TOO_LARGE');
  });

  /** A raw HTTP/1.1 exchange, so the test controls framing and repeated headers. */
  const rawRequest = (head: string[], body: string[]): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const { port } = new URL(broker.url);
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(`${head.join('\r\n')}\r\n\r\n`);
        for (const chunk of body) socket.write(chunk);
      });
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
        const [headers = '', rest = ''] = text.split('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? Number.NaN);
        if (Buffer.byteLength(rest) >= length) {
          socket.destroy();
          resolve({ status: Number(headers.split(' ')[1]), body: rest });
        }
      });
      socket.on('error', reject);
    });

  it('a chunked body with no Content-Length is cut off at the limit → 413', async () => {
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    const pieces = Array.from({ length: 5 }, () => chunk('x'.repeat(20_000)));
    const response = await rawRequest(
      [
        'POST /v1/credentials HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
        `Authorization: Bearer ${token}`,
      ],
      [chunk('{"backend":"demo","pad":"'), ...pieces],
    );
    expect(response.status).toBe(413);
    expect((JSON.parse(response.body) as ErrorBody).error.code).toBe('ERR_BODY_TOO_LARGE');
  });

  it('a repeated Authorization header is one malformed value, as web Headers join it → 401', async () => {
    const body = JSON.stringify({ backend: 'demo' });
    const response = await rawRequest(
      [
        'POST /v1/credentials HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        `Authorization: Bearer ${token}`,
        `Authorization: Bearer ${token}`,
      ],
      [body],
    );
    expect(response.status).toBe(401);
    expect((JSON.parse(response.body) as ErrorBody).error.code).toBe('ERR_UNAUTHENTICATED');
  });

  it('`creddy agent revoke` in another process is honoured by the running server at once', async () => {
    const doomed = await broker.agent('doomed', 'demo:read');
    expect((await issue(broker.url, doomed, { backend: 'demo' })).status).toBe(201);
    const revoked = await runCli(['agent', 'revoke', 'doomed', '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await issue(broker.url, doomed, { backend: 'demo' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('ERR_AGENT_REVOKED');
  });

  it("in-process revokeAgent on the server's own services takes effect at once", async () => {
    const other = await broker.agent('other', 'demo:read');
    await revokeAgent(broker.services as Services, 'other', 'cli');
    const refused = await issue(broker.url, other, { backend: 'demo' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('ERR_AGENT_REVOKED');
  });
});
