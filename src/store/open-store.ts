import type { Store, StoreConfig, StoreStatus } from './port.js';
import { createSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';
import { inspectSqlite } from './sqlite/inspect.js';

/** Opens the configured store. A Postgres store (multi-replica) will implement the same port. */
export function openStore(config: StoreConfig, options: SqliteStoreOptions = {}): Store {
  return createSqliteStore(config.path, options);
}

/** Whether the configured store exists, can be read, and has the current schema; changes nothing. */
export async function inspectStore(config: StoreConfig): Promise<StoreStatus> {
  return inspectSqlite(config.path);
}
