import type { Store, StoreConfig, StoreStatus } from './port.js';
import { createPostgresStore } from './postgres/index.js';
import { inspectPostgres } from './postgres/inspect.js';
import { createSqliteStore } from './sqlite/index.js';
import { inspectSqlite } from './sqlite/inspect.js';

/** How a process uses its store; each backend takes what applies to it. */
export interface StoreOptions {
  /** SQLite: commit audit batches on a worker thread (servers). */
  readonly auditOffThread?: boolean;
  /** fsync (SQLite) / synchronous_commit (PostgreSQL) every audit commit; false for benchmarks only. */
  readonly durable?: boolean;
}

/** Opens the configured store: the SQLite file, or the PostgreSQL database replicas share. */
export function openStore(config: StoreConfig, options: StoreOptions = {}): Store {
  if (config.kind === 'postgres') return createPostgresStore(config, options.durable === undefined ? {} : { durable: options.durable });
  return createSqliteStore(config.path, options);
}

/** Whether the configured store exists, can be read, and has the current schema; changes nothing. */
export async function inspectStore(config: StoreConfig): Promise<StoreStatus> {
  return config.kind === 'postgres' ? inspectPostgres(config) : inspectSqlite(config.path);
}
