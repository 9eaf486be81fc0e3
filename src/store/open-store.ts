import type { Store, StoreConfig, StoreStatus } from './port.js';

// Each store's code (and its driver: pg, better-sqlite3) loads only when that store is configured:
// the PostgreSQL store with pg is ~60 ms of CPU to load after the rest of the server, paid by
// every start of a SQLite server or CLI command that opens the store.

/** How a process uses its store; each backend takes what applies to it. */
export interface StoreOptions {
  /** SQLite: commit audit batches on a worker thread (servers). */
  readonly auditOffThread?: boolean;
  /** fsync (SQLite) / synchronous_commit (PostgreSQL) every audit commit; false for benchmarks only. */
  readonly durable?: boolean;
  /**
   * PostgreSQL: the client's deadline on each statement, in ms; a statement with no answer by
   * then fails (ERR_NOT_READY) and its connection is closed. Servers pass `audit.write_timeout`.
   */
  readonly deadlineMs?: number;
}

/** Opens the configured store: the SQLite file, or the PostgreSQL database replicas share. */
export async function openStore(config: StoreConfig, options: StoreOptions = {}): Promise<Store> {
  if (config.kind === 'postgres') {
    const { createPostgresStore } = await import('./postgres/index.js');
    return createPostgresStore(config, {
      ...(options.durable === undefined ? {} : { durable: options.durable }),
      ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
    });
  }
  const { createSqliteStore } = await import('./sqlite/index.js');
  return createSqliteStore(config.path, options);
}

/** Whether the configured store exists, can be read, and has the current schema; changes nothing. */
export async function inspectStore(config: StoreConfig): Promise<StoreStatus> {
  if (config.kind === 'postgres') return (await import('./postgres/inspect.js')).inspectPostgres(config);
  return (await import('./sqlite/inspect.js')).inspectSqlite(config.path);
}
