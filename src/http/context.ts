import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { Caller, RequestContext } from '../credentials/context.js';

/** Per-request variables: `requestId` from the first middleware, `caller` from requireCaller. */
export type AppEnv = {
  Variables: { requestId: string; caller: Caller };
  /** @hono/node-server passes the Node request and response; absent under app.request() in tests. */
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse };
};

/** Credential ids (jti) as they may appear in a URL: checked before any lookup. */
export const CREDENTIAL_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** The peer address from the Node socket; null under app.request() in tests. */
export function clientIp(c: Context<AppEnv>): string | null {
  return c.env?.incoming?.socket?.remoteAddress ?? null;
}

/**
 * A request header by lower-case name, repeated values joined by ", " as web `Headers` does.
 * Served by @hono/node-server, it is read from Node's raw header list: `c.req.header()` would
 * first build a web `Headers` object from every header, a cost paid on each request for the
 * two or three headers the hot path reads. Under app.request() (tests) it is the web header.
 */
export function requestHeader(c: Context<AppEnv>, name: string): string | undefined {
  const raw = c.env?.incoming?.rawHeaders;
  if (!raw) return c.req.header(name);
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  return value;
}

/**
 * Sets a response header. Served by @hono/node-server it goes straight onto the Node response,
 * which merges it into the head hono's answer writes: `c.header()` would create a web `Headers`
 * object that @hono/node-server then converts back, on every request. Under app.request()
 * (tests) it is `c.header()`.
 */
export function setResponseHeader(c: Context<AppEnv>, name: string, value: string): void {
  const outgoing = c.env?.outgoing;
  if (outgoing) outgoing.setHeader(name, value);
  else c.header(name, value);
}

/** The authenticated caller of a route behind requireCaller, as the use cases take it. */
export function callerOf(c: Context<AppEnv>): RequestContext {
  return { caller: c.get('caller'), clientIp: clientIp(c), requestId: c.get('requestId') };
}
