import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { isForbiddenKey } from '../_utils/object-keys.js';
import { CreddyError } from '../errors.js';
import { type AppEnv, requestHeader } from './context.js';

/** Largest request body accepted; an issue request is a few hundred bytes. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** `application/json`, optionally with `charset=utf-8` (the only encoding JSON bodies may have, RFC 8259). */
const JSON_TYPE_RE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

const tooLarge = (): CreddyError => new CreddyError('ERR_BODY_TOO_LARGE', `request body exceeds ${BODY_LIMIT_BYTES} bytes`);

/**
 * The request body as JSON: 415 unless it is sent as `application/json` (at most with
 * `charset=utf-8`: a UTF-16 body or a `json-patch+json` document is not what this API reads),
 * 413 past BODY_LIMIT_BYTES (declared or streamed), 400 if it does not parse or names a key that
 * would reach an object's prototype.
 *
 * Served by @hono/node-server, the body is read straight from the Node request. Going through
 * `c.req.json()` would turn it into a web `Request` first — a ReadableStream over the socket
 * stream, an AbortController and its signal, web Headers — which was the largest cost of the
 * HTTP layer in the issuance profile, for a body of ~50 bytes.
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const type = requestHeader(c, 'content-type') ?? '';
  if (!JSON_TYPE_RE.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json (charset utf-8)');
  const incoming = c.env?.incoming;
  const bytes = incoming ? await readNodeBody(incoming) : await readWebBody(c.req.raw);
  // A UTF-8 BOM is dropped, as the web body mixins' `json()` does.
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text, refuseForbiddenKeys);
  } catch (err) {
    if (err instanceof CreddyError) throw err;
    throw new CreddyError('ERR_BAD_REQUEST', 'body: not valid JSON', { details: { field: 'body' } });
  }
}

/** Collects the Node request body, failing as soon as it passes the limit. */
function readNodeBody(incoming: IncomingMessage): Promise<Buffer> {
  // Already read to the end (nothing on this path does that): an empty body, never a hang.
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        // Stop collecting; @hono/node-server drains what is left once the 413 is sent.
        cleanup();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    // A client that goes away mid-body: 'error' (aborted, ECONNRESET), or at least 'close' before
    // 'end'. The client's doing, not ours: a 400 nobody will read, not an internal error in the log.
    const onError = (): void => {
      cleanup();
      reject(new CreddyError('ERR_BAD_REQUEST', 'request closed before its body ended'));
    };
    const cleanup = (): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onError);
  });
}

/** The same for a web Request (app.request() in tests), whose body may be a stream without a length. */
async function readWebBody(request: Request): Promise<Buffer> {
  if (!request.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > BODY_LIMIT_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Refuses a declared Content-Length over the limit before anything else runs (authentication
 * included); bodies without one are bounded while they are read (readJson).
 */
export function declaredLengthWithinLimit(c: Context<AppEnv>): void {
  const declared = requestHeader(c, 'content-length');
  if (declared !== undefined && Number.parseInt(declared, 10) > BODY_LIMIT_BYTES) throw tooLarge();
}

function refuseForbiddenKeys(key: string, value: unknown): unknown {
  if (isForbiddenKey(key)) throw new CreddyError('ERR_BAD_REQUEST', `body: key "${key}" is not allowed`, { details: { field: key } });
  return value;
}
