import type { MiddlewareHandler } from 'hono';
import { randomId } from '../../_utils/ids.js';
import { type AppEnv, setResponseHeader } from '../context.js';

/** A short random id that ties a response, its log lines and its audit row together. */
const newRequestId = (): string => randomId(9);

/**
 * The headers every answer carries, whoever writes it (the app, or the server's JWKS fast path):
 * a new request id in `X-Request-Id`, and `nosniff`. Returns the id.
 */
export function stampResponse(setHeader: (name: string, value: string) => void): string {
  const id = newRequestId();
  setHeader('X-Request-Id', id);
  setHeader('X-Content-Type-Options', 'nosniff');
  return id;
}

/** First middleware: the request id on the context, and the headers of `stampResponse`. */
export const requestId = (): MiddlewareHandler<AppEnv> => (c, next) => {
  c.set(
    'requestId',
    stampResponse((name, value) => setResponseHeader(c, name, value)),
  );
  return next();
};
