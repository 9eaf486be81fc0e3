import { CreddyError } from '../errors.js';
import type { StoreConfig } from './port.js';
import { COPY_TABLES, loadIntoEmptyDatabase } from './postgres/load.js';
import { AUDIT_COLUMNS, CREDENTIAL_COLUMNS } from './rows.js';
import { type DumpTable, openSqliteSnapshot } from './sqlite/dump.js';

/** Rows copied per table. */
export type CopyResult = Record<(typeof COPY_TABLES)[number], number>;

/** What `store copy` copied: rows per table, and the audit head the target now has. */
export interface CopyOutcome {
  readonly copied: CopyResult;
  /** The copied log's last seq and hash, the head `audit verify` must print on the target; undefined for an empty log. */
  readonly head: { readonly seq: number; readonly hash: string } | undefined;
}

export interface CopyOptions {
  /** Told after each page inserted: rows copied so far, of the snapshot's rows in all tables. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Every column of each copied table: the two engines' schemas name them alike. */
const TABLES: Record<(typeof COPY_TABLES)[number], DumpTable> = {
  signing_keys: {
    name: 'signing_keys',
    key: 'kid',
    columns: [
      'kid',
      'state',
      'public_x',
      'sealed_private',
      'kek_id',
      'created_at',
      'published_at',
      'activated_at',
      'retired_at',
      'revoked_at',
    ],
  },
  agents: {
    name: 'agents',
    key: 'id',
    columns: ['id', 'name', 'token_hash', 'grants', 'created_at', 'expires_at', 'revoked_at', 'require_dpop'],
  },
  agent_keys: { name: 'agent_keys', key: 'jkt', columns: ['jkt', 'agent', 'x', 'added_at'] },
  credentials: {
    name: 'credentials',
    key: 'jti',
    // The issued columns, plus the reaper's lease (kept: a claim in flight survives the copy).
    columns: [...CREDENTIAL_COLUMNS, 'reap_lease_until'],
  },
  audit_events: { name: 'audit_events', key: 'seq', columns: AUDIT_COLUMNS },
  audit_checkpoints: { name: 'audit_checkpoints', key: 'seq', columns: ['seq', 'hash', 'time', 'key_id', 'signature'] },
  audit_signing_keys: { name: 'audit_signing_keys', key: 'kid', columns: ['kid', 'public_x', 'sealed_private', 'kek_id', 'created_at'] },
  secret_versions: {
    name: 'secret_versions',
    key: 'id',
    columns: [
      'id',
      'path',
      'version',
      'sealed',
      'kek_id',
      'created_at',
      'created_by',
      'generated',
      'superseded_at',
      'readable_until',
      'deleted_at',
    ],
  },
};

const PAGE = 1000;

/**
 * `creddy store copy`: copies a SQLite deployment — sealed signing keys, agents and their public keys, credentials, the
 * audit log with its chain and checkpoints, the audit signing keys, the sealed secret versions — verbatim into an empty
 * PostgreSQL database, in one transaction on the target and from one snapshot of the source.
 * Nothing is re-sealed or re-chained: the same KEK and audit key open and verify it there.
 */
export async function copyStore(source: StoreConfig, target: StoreConfig, options: CopyOptions = {}): Promise<CopyOutcome> {
  if (source.kind !== 'sqlite')
    throw new CreddyError('ERR_USAGE', 'store copy reads a SQLite store: run it with the SQLite deployment’s config');
  if (target.kind !== 'postgres') throw new CreddyError('ERR_USAGE', '--to must be a postgres:// URL');
  const snapshot = openSqliteSnapshot(source.path);
  const counts = Object.fromEntries(COPY_TABLES.map((t) => [t, 0])) as CopyResult;
  try {
    const total = options.onProgress ? COPY_TABLES.reduce((sum, t) => sum + snapshot.count(TABLES[t]), 0) : 0;
    let done = 0;
    await loadIntoEmptyDatabase(target, { pruned: (snapshot.firstAuditSeq ?? 1) > 1 }, async (insert) => {
      for (const table of COPY_TABLES) {
        for (const page of snapshot.pages(TABLES[table], PAGE)) {
          await insert(table, page);
          counts[table] += page.length;
          done += page.length;
          options.onProgress?.(done, total);
        }
      }
    });
    return { copied: counts, head: snapshot.auditHead };
  } finally {
    snapshot.close();
  }
}
