import { CreddyError } from '../errors.js';
import type { StoreConfig } from '../config/types.js';
import { createSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';
import type { Store } from './types.js';

/** Opens the configured store. Postgres (multi-replica) implements the same Store interface. */
export function openStore(config: StoreConfig, options: SqliteStoreOptions = {}): Store {
  if (config.kind === 'sqlite') return createSqliteStore(config.path, options);
  throw new CreddyError('ERR_CONFIG_INVALID', 'store: postgres is not available in this build yet; use "sqlite"');
}
