import type { MiddlewareHandler } from 'hono';
import { randomId } from '../../_utils/ids.js';
import { type AppEnv, setResponseHeader } from '../context.js';

/** A short random id that ties a response, its log lines and its audit row together. */
export const newRequestId = (): string => randomId(9);

/** First middleware: a request id on the context and in `X-Request-Id`, and `nosniff` on every answer. */
export const requestId = (): MiddlewareHandler<AppEnv> => (c, next) => {
  const id = newRequestId();
  c.set('requestId', id);
  setResponseHeader(c, 'X-Request-Id', id);
  setResponseHeader(c, 'X-Content-Type-Options', 'nosniff');
  return next();
};
