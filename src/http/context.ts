import type { Context } from 'hono';
import type { Caller, RequestContext } from '../credentials/context.js';

/** Per-request variables: `requestId` from the first middleware, `caller` from requireCaller. */
export type AppEnv = {
  Variables: { requestId: string; caller: Caller };
  Bindings: { incoming?: { socket?: { remoteAddress?: string } } };
};

/** Credential ids (jti) as they may appear in a URL: checked before any lookup. */
export const CREDENTIAL_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** The peer address from the Node socket; null under app.request() in tests. */
export function clientIp(c: Context<AppEnv>): string | null {
  return c.env?.incoming?.socket?.remoteAddress ?? null;
}

/** The authenticated caller of a route behind requireCaller, as the use cases take it. */
export function callerOf(c: Context<AppEnv>): RequestContext {
  return { caller: c.get('caller'), clientIp: clientIp(c), requestId: c.get('requestId') };
}
