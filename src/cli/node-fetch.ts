import type * as Http from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';

/**
 * The CLI's transport to the broker: a `fetch` over node:http(s), for the client SDK
 * (client/http.ts reads `ok`, `status` and `text()` of the answer) and the preflight.
 *
 * Why not the global `fetch`: on Node 20 its first call loads and compiles undici, about 120 ms
 * of CPU — more than all of the rest of `creddy get` (bench/cli-startup.mjs). A CLI process makes
 * one or two requests and exits, so it never earns that back.
 *
 * The answer is a minimal Response: `ok`, `status`, `statusText`, `url`, `headers.get()`,
 * `text()`, `json()`, `arrayBuffer()`. It comes with the headers, as fetch's does; the body is
 * read in the background (whole, not streamed: the broker's answers are small), and the body
 * methods wait for it and reject when it stops coming or breaks off. Redirects are not followed
 * (the broker never redirects; `fetch` would have turned a redirected POST into a GET anyway);
 * the 3xx comes back as it is, and the client reports it as an error. No proxy: neither does
 * Node 20's `fetch`.
 */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`);
  // TLS is loaded only for an https broker.
  const { request } = await builtin(url.protocol === 'https:' ? 'node:https' : 'node:http');
  const body = bodyOf(init.body);
  const headers = headersOf(init.headers);
  if (body !== undefined) headers['content-length'] = String(body.byteLength);
  const options: RequestOptions = { method: init.method ?? 'GET', headers, ...(init.signal ? { signal: init.signal } : {}) };

  // Resolved at the answer's headers, as fetch is: a body that then stops coming (or breaks off)
  // fails the read of it, so the client can tell "no answer" from "an answer cut short".
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, options, resolve);
    req.on('error', reject);
    req.end(body);
  });
  const bytes = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    // The signal's abort (a timeout) and a dropped connection both end the body with an error.
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('terminated'));
    });
  });
  // A body nobody reads (an error status the client discards) must not become an unhandled rejection.
  bytes.catch(() => {});

  const status = res.statusCode ?? 0;
  const text = async (): Promise<string> => (await bytes).toString('utf8');
  const response = {
    ok: status >= 200 && status < 300,
    status,
    statusText: res.statusMessage ?? '',
    url: url.href,
    redirected: false,
    headers: {
      get: (name: string): string | null => {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    text,
    json: async (): Promise<unknown> => JSON.parse(await text()),
    arrayBuffer: async (): Promise<ArrayBuffer> => new Uint8Array(await bytes).buffer,
  };
  return response as unknown as Response;
}

/**
 * node:http or node:https, without an ESM import of it: on Node 24 importing node:http copies
 * every export, and its lazy `WebSocket` export alone loads undici, ~50 ms again.
 * `process.getBuiltinModule` is Node ≥ 20.16, and Node 24 has it; before it, an import is no
 * dearer than a require (and keeps `node:module` out of the `get` bundle's start).
 */
async function builtin(id: 'node:http' | 'node:https'): Promise<Pick<typeof Http, 'request'>> {
  if (typeof process.getBuiltinModule === 'function') return process.getBuiltinModule(id);
  return (await import(id)) as typeof Http;
}

function bodyOf(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8');
  throw new TypeError('nodeFetch sends string, bytes or URLSearchParams bodies only');
}

function headersOf(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  const entries: Iterable<[string, string]> | undefined = Array.isArray(headers)
    ? (headers as Array<[string, string]>)
    : typeof (headers as Headers).entries === 'function'
      ? (headers as Headers).entries()
      : Object.entries(headers as Record<string, string>);
  for (const [name, value] of entries) out[name.toLowerCase()] = value;
  return out;
}
