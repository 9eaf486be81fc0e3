import type Database from 'better-sqlite3';
import { openSqlite } from './connect.js';

/** A table to copy: its columns (the same in both engines) and the key it is paged by. */
export interface DumpTable {
  readonly name: string;
  readonly columns: readonly string[];
  readonly key: string;
}

/** A read-only, consistent view of a SQLite store for `creddy store copy`. */
export interface SqliteSnapshot {
  /** Rows of `table` in key order, `pageSize` at a time, all from one read transaction. */
  pages(table: DumpTable, pageSize: number): Generator<Record<string, unknown>[]>;
  /** The first audit seq (above 1 once retention has pruned), undefined for an empty log. */
  readonly firstAuditSeq: number | undefined;
  /** The last audit row's seq and hash (what `audit verify` prints as the head), undefined for an empty log. */
  readonly auditHead: { readonly seq: number; readonly hash: string } | undefined;
  /** Rows of `table` in the snapshot (for a progress display). */
  count(table: DumpTable): number;
  close(): void;
}

/**
 * Opens the file (migrating it if it is older, as any open does) and starts one read transaction,
 * so every page comes from the same snapshot even if a server is still writing (WAL).
 */
export function openSqliteSnapshot(path: string): SqliteSnapshot {
  const db: Database.Database = openSqlite(path);
  db.exec('BEGIN');
  // The snapshot is taken at the first read: take it now, before any page is asked for.
  const first = db.prepare<[], { seq: number }>('SELECT seq FROM audit_events ORDER BY seq LIMIT 1').get();
  const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get();
  return {
    firstAuditSeq: first?.seq,
    auditHead: last === undefined ? undefined : { seq: last.seq, hash: last.hash },
    count(table) {
      return (db.prepare(`SELECT count(*) AS n FROM ${table.name}`).get() as { n: number }).n;
    },
    *pages(table, pageSize) {
      const head = db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${table.key} LIMIT ?`);
      const next = db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} WHERE ${table.key} > ? ORDER BY ${table.key} LIMIT ?`);
      let page = head.all(pageSize) as Record<string, unknown>[];
      while (page.length > 0) {
        yield page;
        if (page.length < pageSize) return;
        page = next.all(page.at(-1)![table.key], pageSize) as Record<string, unknown>[];
      }
    },
    close() {
      if (!db.open) return;
      db.exec('COMMIT');
      db.close();
    },
  };
}
