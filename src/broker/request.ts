import type { Context } from 'hono';
import { randomId } from '../_utils/ids.js';

/** Per-request variables set by the app's first middleware. */
export type AppEnv = {
  Variables: { requestId: string };
  Bindings: { incoming?: { socket?: { remoteAddress?: string } } };
};

/** Credential ids (jti) as they may appear in a URL: checked before any lookup. */
export const CREDENTIAL_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** A short random id that ties a response, its log lines and its audit row together. */
export const newRequestId = (): string => randomId(9);

/** The peer address from the Node socket; null under app.request() in tests. */
export function clientIp(c: Context<AppEnv>): string | null {
  return c.env?.incoming?.socket?.remoteAddress ?? null;
}
