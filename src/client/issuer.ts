import { CreddyError } from '../errors.js';
import { withoutUserinfo } from './broker-url.js';

/**
 * Which broker the client's proofs are for. A client assertion's `aud`, a DPoP proof's `htu` and
 * the audience of an ID token the CLI asks GitHub for are all read from the broker's metadata; a
 * server that answers for `url` could name any other issuer there (a real broker, AWS STS) and be
 * handed proofs that are valid at it. So the metadata is believed only for the URL it was fetched
 * from (RFC 8414 §3.3): its `issuer` must be that URL, or the issuer the caller configured.
 */

/**
 * A URL as issuers are compared: scheme and host as the URL parser writes them (lower case, no
 * default port), the path without trailing slashes (the broker's `issuer` has none; a client's URL
 * may). Undefined when it is not an http(s) URL without query, fragment or credentials.
 */
export function issuerForm(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.search || url.hash || url.username || url.password) return undefined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** True when `value` is usable as the `issuer` option: an http(s) URL without a trailing slash, as the broker's `issuer:` setting. */
export function isIssuerOption(value: unknown): value is string {
  return typeof value === 'string' && !value.endsWith('/') && issuerForm(value) !== undefined;
}

/**
 * The issuer a broker's metadata names, once checked against what the client expects: the
 * configured issuer when there is one, else the broker URL the client was given. Returned as the
 * metadata writes it, since the broker compares `aud` and `htu` with it byte for byte.
 *
 * @throws {@link CreddyError} `ERR_ISSUER_MISMATCH` naming the URL, both issuers and the fix.
 */
export function checkedIssuer(found: unknown, expected: { url: string; issuer: string | undefined }): string {
  const want = expected.issuer ?? expected.url;
  if (typeof found !== 'string' || found.length === 0) {
    throw new CreddyError('ERR_ISSUER_MISMATCH', `creddy at ${expected.url} names no issuer in its metadata`, { expose: true });
  }
  const form = issuerForm(found);
  if (form !== undefined && form === issuerForm(want)) return found;
  // The server's text, quoted (no control characters) and cut short, without a URL's user info:
  // it may say anything.
  const clean = withoutUserinfo(found);
  const shown = clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
  const fix =
    expected.issuer === undefined
      ? `If ${expected.url} is an address of that broker (an internal name, a proxy), configure its issuer explicitly: the client's issuer option, or CREDDY_ISSUER for the CLI`
      : 'Check that the URL and the configured issuer (issuer option, CREDDY_ISSUER) name the same broker';
  throw new CreddyError(
    'ERR_ISSUER_MISMATCH',
    `creddy at ${expected.url} says its issuer is ${JSON.stringify(shown)}, not ${want}: no client assertion, DPoP proof or ID token is sent for another issuer (RFC 8414 §3.3). ${fix}.`,
    { expose: true, details: { url: expected.url, issuer: shown, expected: want } },
  );
}

/**
 * The origin (scheme, host, port) of an http(s) URL, or undefined. An ID token goes only to an
 * endpoint on the broker URL's own origin.
 */
export function originOf(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
