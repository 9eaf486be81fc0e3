import http from 'node:http';
import https from 'node:https';
import { isSecureOrLoopbackUrl } from '../../_utils/url.js';
import { CreddyError } from '../../errors.js';

/** Limits of one fetch of an issuer document. */
export interface FetchLimits {
  /** The whole exchange (connect, headers, body), in ms. */
  readonly timeoutMs: number;
  /** Bodies larger than this are cut off and refused. */
  readonly maxBytes: number;
  /** PEM of a private CA trusted instead of the system's (Kubernetes API servers); null: the system's. */
  readonly ca: string | null;
}

/** A fetched JSON document and how long its server says it may be cached (seconds; null: not said). */
export interface FetchedJson {
  readonly body: unknown;
  readonly maxAge: number | null;
}

/**
 * GETs a JSON document from an issuer: https (loopback http for tests and sidecars), no
 * redirects (a redirect could lead anywhere), a deadline over the whole exchange and a size cap,
 * so a slow or huge answer cannot tie up the broker. Errors are plain messages naming the URL,
 * fit for logs (issuer URLs are not secret).
 */
export function fetchJson(url: string, limits: FetchLimits): Promise<FetchedJson> {
  if (!isSecureOrLoopbackUrl(url)) return Promise.reject(new CreddyError('ERR_ISSUER_UNAVAILABLE', `${url}: not an https URL`));
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const fail = (problem: string): void => reject(new CreddyError('ERR_ISSUER_UNAVAILABLE', `${url}: ${problem}`));
    const request = (secure ? https : http).request(
      target,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(limits.timeoutMs),
        ...(secure && limits.ca !== null ? { ca: limits.ca } : {}),
      },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          return fail(`HTTP ${response.statusCode}`);
        }
        if (Number(response.headers['content-length']) > limits.maxBytes) {
          response.destroy();
          return fail(`larger than ${limits.maxBytes} bytes`);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limits.maxBytes) {
            response.destroy();
            fail(`larger than ${limits.maxBytes} bytes`);
          } else chunks.push(chunk);
        });
        response.on('error', (err) => fail(err.message));
        response.on('end', () => {
          try {
            resolve({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')), maxAge: maxAgeOf(response.headers['cache-control']) });
          } catch {
            fail('not JSON');
          }
        });
      },
    );
    request.on('error', (err) =>
      fail(err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${limits.timeoutMs} ms` : err.message),
    );
    request.end();
  });
}

/** `max-age` of a Cache-Control header in seconds; 0 for no-store/no-cache; null when absent. */
function maxAgeOf(header: string | undefined): number | null {
  if (!header) return null;
  if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(header)) return 0;
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?/i.exec(header);
  return match ? Number(match[1]) : null;
}
