/** Which failed fetches provably never sent their request (and so may be repeated even for a POST). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { requestNeverSent } from '../../src/_utils/never-sent.js';

const failure = (url: string, init?: RequestInit) =>
  fetch(url, { method: 'POST', body: '{}', ...init }).then(
    () => undefined,
    (err: unknown) => err,
  );

/** A loopback server that reads each request, then resets its connection without an answer. */
async function resettingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.socket?.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('requestNeverSent', () => {
  it('is true for a refused connection: nothing reached the server', async () => {
    const { url, close } = await resettingServer();
    await close(); // nothing listens on the port now
    const err = await failure(url);
    expect(err).toBeInstanceOf(TypeError);
    expect(requestNeverSent(err)).toBe(true);
  });

  it('is true when every address Node tried refused (an AggregateError of connect failures)', () => {
    const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    const err = new TypeError('fetch failed', { cause: new AggregateError([refused('::1'), refused('127.0.0.1')]) });
    expect(requestNeverSent(err)).toBe(true);
  });

  it('is false for a connection reset after the server read the request', async () => {
    const server = await resettingServer();
    try {
      const err = await failure(server.url);
      expect(err).toBeInstanceOf(TypeError);
      expect(requestNeverSent(err)).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('is false for a timeout or an abort, and for anything it does not know', () => {
    expect(requestNeverSent(new DOMException('attempt timed out', 'TimeoutError'))).toBe(false);
    expect(requestNeverSent(new DOMException('aborted', 'AbortError'))).toBe(false);
    expect(requestNeverSent(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBe(false);
    expect(requestNeverSent(new TypeError('fetch failed'))).toBe(false);
    expect(requestNeverSent('not an error')).toBe(false);
  });
});
