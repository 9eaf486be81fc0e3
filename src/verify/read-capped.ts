/**
 * A response body as UTF-8 text, or `null` when it is larger than `maxBytes`. A declared
 * `Content-Length` above the cap is refused before a byte is read; otherwise the body is read
 * chunk by chunk and the stream cancelled as soon as it passes the cap, so an endless or huge
 * body costs at most `maxBytes` of memory — `response.text()` would buffer all of it before
 * anyone could look at its size. WebCrypto-era APIs only (streams, `TextDecoder`): runs wherever
 * `fetch` does. A `fetch` whose responses have no `body` stream is read with `text()`.
 */
export async function readCapped(response: Response, maxBytes: number): Promise<string | null> {
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\d{1,16}$/.test(declared.trim()) && Number(declared) > maxBytes) {
    discardBody(response);
    return null;
  }
  const body = response.body;
  if (!body || typeof body.getReader !== 'function') {
    const text = await response.text();
    return new TextEncoder().encode(text).byteLength > maxBytes ? null : text;
  }
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      // Not awaited: a server that keeps the connection open must not hold the caller too.
      reader.cancel().catch(() => {});
      return null;
    }
    text += decoder.decode(value, { stream: true });
  }
}

/** Lets go of a body that will not be read (a 304, an error status), so its connection is freed. */
export function discardBody(response: Response): void {
  const body = response.body;
  if (body && typeof body.cancel === 'function' && !body.locked) body.cancel().catch(() => {});
}
