import type { Context } from 'hono';
import { CreddyError } from '../errors.js';
import type { AppEnv } from './context.js';

/** The request body as JSON: 415 unless it is sent as `application/json`, 400 if it does not parse. */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  try {
    return await c.req.json();
  } catch {
    throw new CreddyError('ERR_BAD_REQUEST', 'body: not valid JSON', { details: { field: 'body' } });
  }
}
