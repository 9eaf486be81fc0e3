import pg from 'pg';
import type { StoreStatus } from '../port.js';
import { clientConfig, type PostgresTarget } from './connect.js';
import { PG_SCHEMA_VERSION, schemaVersion } from './migrations.js';

/**
 * Looks at a PostgreSQL store without changing it (`creddy doctor`): can it be reached, and which
 * schema version does it have. An empty database "exists" with version 0.
 */
export async function inspectPostgres(target: PostgresTarget): Promise<StoreStatus> {
  const client = new pg.Client({ ...clientConfig(target), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return { exists: true, version: await schemaVersion(client), latest: PG_SCHEMA_VERSION };
  } catch (err) {
    return { exists: false, version: null, latest: PG_SCHEMA_VERSION, error: `${target.display}: ${(err as Error).message}` };
  } finally {
    await client.end().catch(() => {});
  }
}
