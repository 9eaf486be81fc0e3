import { CreddyError } from '../errors.js';

/**
 * The broker's base URL from what a caller configured (`options.url`, or `CREDDY_URL` for the
 * CLI), parsed with `new URL()`: scheme and host as the URL parser writes them (`HTTP://` is
 * http), no trailing slash. Refused with `ERR_USAGE` naming `name`: anything but http(s), a query
 * or fragment (every route is appended to the path, so `?x=1` would end up mid-URL), and user
 * info — credentials go in `auth`, and a URL is printed in error messages, so a password in it
 * would be too. The refusal for user info does not print the URL.
 *
 * @internal
 */
export function brokerBaseUrl(value: unknown, name: string): string {
  const usage = (why: string) => new CreddyError('ERR_USAGE', `${name} ${why}`, { details: { option: name } });
  if (typeof value !== 'string' || value.trim() === '') throw usage('must be the broker\'s http(s) URL, e.g. "http://127.0.0.1:8400"');
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw usage(`must be an http(s) URL such as "http://127.0.0.1:8400"; got ${quoted(value)}`);
  }
  if (url.username || url.password) {
    throw usage("must not carry credentials (user:password@): pass them in the client's auth option (CREDDY_TOKEN for the CLI)");
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`must be an http(s) URL; got ${quoted(value)}`);
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw usage(`must be the broker's base URL without a query or fragment; got ${quoted(`${url.origin}${url.pathname}`)}`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * `text` with the user info of every URL in it removed (`http://u:p@host` → `http://host`): for
 * messages built from a URL, or from another library's error text that may quote one.
 *
 * @internal
 */
export function withoutUserinfo(text: string): string {
  // The user info stops at a /, space, quote or angle bracket, so a match never runs from a URL
  // to a later @ (an e-mail address further on in the text). No lookbehind: older Safari has none.
  return text.replace(/(^|[^a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)[^/@\s"'<>\\]*@/gi, '$1$2');
}

/**
 * A URL for an error message: origin and path only. User info, the query and the fragment may
 * hold secrets (`?token=…`, a signed URL) and are left out. Undefined when it does not parse.
 *
 * @internal
 */
export function shownUrl(value: string, base?: string): string | undefined {
  try {
    const url = new URL(value, base);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return undefined;
  }
}

/** A caller's value quoted for a message, without user info, cut short. */
function quoted(value: string): string {
  // An @ may follow a password in any form of URL, parseable or not: such a value is not shown.
  if (value.includes('@')) return '(a value with "@" in it, not shown)';
  const clean = value.replace(/[?#].*$/s, '');
  return JSON.stringify(clean.length > 200 ? `${clean.slice(0, 200)}…` : clean);
}
