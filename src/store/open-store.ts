import type { Store, StoreConfig } from './port.js';
import { createSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';

/** Opens the configured store. A Postgres store (multi-replica) will implement the same port. */
export function openStore(config: StoreConfig, options: SqliteStoreOptions = {}): Store {
  return createSqliteStore(config.path, options);
}
