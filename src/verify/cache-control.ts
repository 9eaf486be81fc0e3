/** Without a `Cache-Control: max-age`, trust a fetched set this long: creddy's default `jwks_max_age`. */
const DEFAULT_FRESHNESS_MS = 5 * 60_000;

/** How long a response may be used, from its `Cache-Control` and `Age` headers (RFC 9111). */
export interface Freshness {
  /** How long it is fresh, in ms from when the request was sent (0: revalidate every time). */
  readonly freshMs: number;
  /** False for `no-store`/`no-cache`: the server wants every use checked, so never serve it stale. */
  readonly mayServeStale: boolean;
}

/**
 * `max-age` minus `Age`, capped at `maxMs`; `no-cache` and `no-store` mean 0. Without a
 * `max-age`, 5 minutes (creddy's default `jwks_max_age`).
 */
export function freshnessOf(headers: Headers, maxMs: number): Freshness {
  const directives = (headers.get('cache-control') ?? '')
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  const uncached = directives.includes('no-store') || directives.includes('no-cache');
  let seconds: number | undefined = uncached ? 0 : undefined;
  for (const directive of directives) {
    const match = /^max-age="?(\d{1,10})"?$/.exec(directive);
    if (match && seconds === undefined) seconds = Number(match[1]);
  }
  const age = /^\d{1,10}$/.test(headers.get('age') ?? '') ? Number(headers.get('age')) : 0;
  const ms = seconds === undefined ? DEFAULT_FRESHNESS_MS : (seconds - age) * 1000;
  return { freshMs: Math.min(Math.max(0, ms), maxMs), mayServeStale: !uncached };
}
