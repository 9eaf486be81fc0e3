import { resolve } from 'node:path';
import type { ConfigReader } from '../_utils/config-reader.js';
import { maskUrl } from '../_utils/masked-url.js';
import type { StoreConfig } from '../store/port.js';

/** Connections per process when `store_pool` is not set: enough for group commit plus reads. */
export const DEFAULT_STORE_POOL = 10;

/** `sslmode` values with libpq's meaning; `allow`/`prefer` would silently fall back to plaintext. */
const SSL_MODES = new Set(['disable', 'require', 'verify-ca', 'verify-full']);

/**
 * `store:` — `sqlite` (the file `<data_dir>/creddy.db`) or a `postgres://` URL shared by replicas;
 * `store_pool:` — connections per process for PostgreSQL. Problems name the key, never the URL,
 * which may carry a password (in its user info or a `?password=` parameter): `display` masks both.
 */
export function parseStore(root: ConfigReader, dataDir: string): StoreConfig {
  const value = root.string('store', 'sqlite');
  const poolSize = root.optionalInteger('store_pool', { min: 1, max: 1000 });
  if (value === 'sqlite') {
    if (poolSize !== undefined) root.fail('store_pool', 'applies only to a postgres store');
    return { kind: 'sqlite', path: resolve(dataDir, 'creddy.db') };
  }
  if (!/^postgres(ql)?:\/\//.test(value)) root.fail('store', 'must be "sqlite" or a postgres:// URL');
  return postgresStore(value, poolSize ?? DEFAULT_STORE_POOL, (problem) => root.fail('store', problem));
}

/**
 * A postgres:// URL as a store (also `creddy store copy --to`). `fail` gets the problem, which
 * never quotes the URL.
 */
export function postgresStore(value: string, poolSize: number, fail: (problem: string) => never): StoreConfig {
  if (!/^postgres(ql)?:\/\//.test(value)) fail('must be a postgres:// URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('is not a valid URL (percent-encode special characters in the user name and password)');
  }
  if (url.pathname.length <= 1) fail('must name the database (postgres://USER@HOST:PORT/DB)');
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null && !SSL_MODES.has(sslmode)) fail(`sslmode must be one of ${[...SSL_MODES].join(', ')}`);
  if (url.hash) fail('must not have a #fragment');
  return { kind: 'postgres', url: value, display: maskUrl(url), poolSize };
}
