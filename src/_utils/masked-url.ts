/**
 * Query parameters that carry a secret. libpq (and node-postgres, which copies every parameter
 * into its connection settings) read `password` and `sslpassword` (the passphrase of an encrypted
 * `sslkey`) from the URL as well as from its user info; the other names cover the same values
 * spelt by other drivers and tools (`passphrase`, `ssl_password`, `client_secret`, `…token`).
 * File names (`sslkey`, `passfile`) are not secrets and stay readable.
 */
const SECRET_PARAM = /pass(word|phrase)|secret|token/i;

/** What a masked value reads as. */
export const MASK = '***';

/**
 * A URL as it may appear in output, errors and logs: the user-info password and the value of
 * every secret-bearing query parameter (`?password=`, `?sslpassword=`, …) replaced by `***`.
 * The one helper for showing a database URL (a store, a PostgreSQL backend's admin URL).
 */
export function maskUrl(value: string | URL): string {
  const url = new URL(typeof value === 'string' ? value : value.href);
  if (url.password) url.password = MASK;
  // Rebuilt by hand, not through searchParams.set: that would re-encode every other parameter.
  if (url.search.length > 1) {
    url.search = url.search
      .slice(1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const name = eq < 0 ? pair : pair.slice(0, eq);
        return eq >= 0 && SECRET_PARAM.test(safeDecode(name)) ? `${name}=${MASK}` : pair;
      })
      .join('&');
  }
  return url.href;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}
