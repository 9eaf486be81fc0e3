import type { Context } from 'hono';
import { isForbiddenKey } from '../_utils/object-keys.js';
import { CreddyError } from '../errors.js';
import type { AppEnv } from './context.js';

/** `application/json`, optionally with `charset=utf-8` (the only encoding JSON bodies may have, RFC 8259). */
const JSON_TYPE_RE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * The request body as JSON: 415 unless it is sent as `application/json` (at most with
 * `charset=utf-8`: a UTF-16 body or a `json-patch+json` document is not what this API reads),
 * 400 if it does not parse or names a key that would reach an object's prototype.
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE_RE.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json (charset utf-8)');
  const text = await c.req.text();
  try {
    return JSON.parse(text, refuseForbiddenKeys);
  } catch (err) {
    if (err instanceof CreddyError) throw err;
    throw new CreddyError('ERR_BAD_REQUEST', 'body: not valid JSON', { details: { field: 'body' } });
  }
}

function refuseForbiddenKeys(key: string, value: unknown): unknown {
  if (isForbiddenKey(key)) throw new CreddyError('ERR_BAD_REQUEST', `body: key "${key}" is not allowed`, { details: { field: key } });
  return value;
}
