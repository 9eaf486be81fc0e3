import { createHash } from 'node:crypto';
import { type AuditCheckpoint, type AuditKeyUsage, type AuditRow, GENESIS_HASH } from '../model/audit.js';
import { canonicalRow, chainHash } from './chain.js';
import { type CheckpointSource, walkCheckpoints } from './checkpoint-walk.js';
import type { AuditKeySet } from './key.js';
import type { AuditPublicKey } from './signing-key.js';
import { describeUnconfigured, noteKeyUsage, UNCONFIGURED_KEY_FIX } from './unconfigured-keys.js';

/** What is wrong at the first bad seq. */
export type ProblemKind =
  | 'modified' // a row's content, prev_hash or hash was changed
  | 'missing' // a row is gone (a gap in seq, or the head of the log without an anchor)
  | 'reordered' // a genuine row sits at the wrong place
  | 'inserted' // a row that the audit key never sealed was added
  | 'truncated' // the log ends before a signed checkpoint
  | 'unknown-key' // sealed or signed by a key this verifier does not have (a configuration error, unless the key was never yours)
  | 'bad-checkpoint'; // a checkpoint signature does not verify

export interface ChainProblem {
  readonly seq: number;
  readonly kind: ProblemKind;
  readonly detail: string;
  /**
   * On the `unknown-key` problem of rows (not of a checkpoint): every audit key id that sealed
   * rows but is not configured, with the rows it sealed. Only reported when nothing else is wrong.
   */
  readonly unconfiguredKeys?: readonly AuditKeyUsage[];
}

export interface ChainReport {
  /** Rows checked before the first problem (all of them when there is none). */
  readonly rows: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** Chain hash of the last row checked: with lastSeq, what `--expect SEQ:HASH` takes. */
  readonly lastHash: string | null;
  readonly checkpoints: number;
  readonly latestCheckpoint: AuditCheckpoint | null;
  /**
   * `verified`: every row's HMAC was checked and matched. `mismatch`: a row's HMAC did not match
   * (the problem says which). `incomplete`: another problem stopped the walk before every row was
   * checked. `not-checked`: no audit key, so row content was checked only through checkpoints and
   * linkage.
   */
  readonly hmac: 'verified' | 'mismatch' | 'incomplete' | 'not-checked';
  readonly problem: ChainProblem | null;
}

export interface ChainSource {
  /** Rows with seq > afterSeq, ascending, at most `limit`. */
  page(afterSeq: number, limit: number): Promise<readonly AuditRow[]>;
  /** In seq order: an array, or a cursor the walk reads as it goes (a bundle's, an export's). */
  readonly checkpoints: CheckpointSource;
  readonly publicKeys: readonly AuditPublicKey[];
  /** Key ids known but deliberately not trusted, and why: a checkpoint they signed is named so. */
  readonly untrusted?: UntrustedKeys;
  /** Undefined or empty: HMACs cannot be checked. */
  readonly keys: AuditKeySet | undefined;
  /**
   * `strict` (a whole database): the first row is seq 1 from genesis or a checkpointed anchor
   * left by retention. `open` (an export range): the first row's predecessor may lie outside.
   */
  readonly start: 'strict' | 'open';
  /** Told of each row that passed, in chain order (an export hashes what it will write). */
  readonly onRow?: (row: AuditRow) => void;
}

/** Audit signing keys a verifier knows of but does not trust (verify-store.ts: not opened by the KEK). */
export interface UntrustedKeys {
  readonly ids: ReadonlySet<string>;
  /** Completes "signed by audit signing key KID, which is …". */
  readonly why: string;
}

/** A ChainSource page function over rows held in memory (exports, bundles), in file order. */
export function arrayPager(rows: readonly AuditRow[]): ChainSource['page'] {
  const index = new Map(rows.map((r, i) => [r.seq, i]));
  return async (afterSeq, limit) => {
    const start = afterSeq === 0 ? 0 : (index.get(afterSeq) ?? rows.length - 1) + 1;
    return rows.slice(start, start + limit);
  };
}

const PAGE = 2000;
const RECENT = 1024;

const plainSha = (row: AuditRow): string => createHash('sha256').update(row.prevHash).update('\n').update(canonicalRow(row)).digest('hex');

/**
 * Walks the chain in seq order and reports the first problem: HMAC per row (with the key its
 * key_id names), prev_hash linkage, seq continuity, every checkpoint's Ed25519 signature and
 * hash, and a tail that ends before the latest checkpoint. Rows sealed by a key that is not
 * configured are walked on (linkage and checkpoints still checked, not their HMACs) and reported
 * together, one `unknown-key` problem naming every such key id and its rows, and only when
 * nothing else is wrong: a proven edit matters more than a key left out of the configuration.
 */
export async function verifyChain(source: ChainSource): Promise<ChainReport> {
  const { keys } = source;
  const canHmac = keys !== undefined && keys.all.length > 0;
  // Checkpoints are read beside the rows, never all at once: a bundle may hold hundreds of thousands.
  const checkpoints = walkCheckpoints(source.checkpoints, source.publicKeys, source.untrusted);

  const recent = new Map<string, number>();
  let rows = 0;
  let firstSeq: number | null = null;
  let prev: AuditRow | undefined;
  let rowProblem: ChainProblem | undefined;
  let after = 0;
  let pruneRecorded = false;
  /** The start an audit.pruned row last named, when not this log's (for the detail). */
  let latestRecorded: number | undefined;

  let hmacMismatch = false;
  const unconfigured = new Map<string, AuditKeyUsage>();
  const diagnose = async (row: AuditRow, following: AuditRow | undefined): Promise<ChainProblem | undefined> => {
    const expectedSeq = prev ? prev.seq + 1 : 1;
    const expectedPrev = prev?.hash ?? GENESIS_HASH;
    // Rows arrive in seq order unless this one is misplaced, which is reported before `at` is used.
    const at = await checkpoints.advanceTo(row.seq);
    const anchor = at?.checkpoint;
    if (!prev && row.seq !== 1) {
      // An export may start anywhere; a whole log only at seq 1 or at a retention anchor.
      if (source.start === 'strict' && (!anchor || anchor.hash !== row.hash)) {
        return { seq: 1, kind: 'missing', detail: `log starts at seq ${row.seq} without a signed checkpoint anchoring it` };
      }
      // Named here, not only as the checkpoint's own problem further on: it is why rows are gone
      // (a prune anchored on a checkpoint row that someone without the signing key inserted).
      const forged = source.start === 'strict' ? at?.unsigned : undefined;
      if (forged !== undefined) {
        return {
          seq: 1,
          kind: 'missing',
          detail: `seq 1-${row.seq - 1} missing: the log starts at seq ${row.seq}, whose checkpoint ${forged}: one the audit signing key did not sign anchors no prune`,
        };
      }
    } else if (row.seq < expectedSeq) {
      return { seq: expectedSeq, kind: 'reordered', detail: `seq ${row.seq} appears after seq ${prev?.seq ?? 0}` };
    } else if (row.seq > expectedSeq) {
      return {
        seq: expectedSeq,
        kind: 'missing',
        detail: `seq ${expectedSeq}${row.seq - 1 > expectedSeq ? `-${row.seq - 1}` : ''} missing: seq ${row.seq} follows ${prev?.seq ?? 0}`,
      };
    }
    const key = canHmac ? keys.byId(row.keyId) : undefined;
    const ahead = async (): Promise<readonly AuditRow[]> => source.page(row.seq, PAGE);
    if (canHmac && !key) {
      // Its HMAC cannot be checked, but a row the next one links past was slipped in. The next
      // row is usually on this page: a log of such rows must not cost a read per row.
      const next = following ?? (await ahead())[0];
      if (next && next.prevHash !== row.hash && next.prevHash === row.prevHash)
        return { seq: row.seq, kind: 'inserted', detail: `row at seq ${row.seq} is not part of the chain: seq ${next.seq} links past it` };
      noteKeyUsage(unconfigured, row);
    }
    if (prev || row.seq === 1) {
      if (row.prevHash !== expectedPrev) {
        const later = await ahead();
        const from = recent.get(row.prevHash) ?? later.find((r) => r.hash === row.prevHash)?.seq;
        if (from !== undefined)
          return { seq: row.seq, kind: 'reordered', detail: `row at seq ${row.seq} follows seq ${from}, not seq ${row.seq - 1}` };
        if (later[0]?.prevHash === expectedPrev)
          return {
            seq: row.seq,
            kind: 'inserted',
            detail: `row at seq ${row.seq} is not part of the chain: seq ${later[0].seq} links past it`,
          };
        return { seq: row.seq, kind: 'modified', detail: `prev_hash of seq ${row.seq} does not match the hash of seq ${row.seq - 1}` };
      }
    }
    if (key && chainHash(key, row) !== row.hash) {
      hmacMismatch = true;
      if (plainSha(row) === row.hash)
        return { seq: row.seq, kind: 'inserted', detail: `row at seq ${row.seq} carries a plain SHA-256, not the audit HMAC: forged` };
      const next = (await ahead())[0];
      if (next && next.prevHash !== row.hash && next.prevHash === row.prevHash) {
        return { seq: row.seq, kind: 'inserted', detail: `row at seq ${row.seq} is not part of the chain: seq ${next.seq} links past it` };
      }
      return { seq: row.seq, kind: 'modified', detail: `row at seq ${row.seq} does not match its HMAC: a column was changed` };
    }
    if (anchor && anchor.hash !== row.hash)
      return { seq: row.seq, kind: 'modified', detail: `row at seq ${row.seq} does not match the signed checkpoint at seq ${row.seq}` };
    return undefined;
  };

  walk: for (;;) {
    const page = await source.page(after, PAGE);
    if (page.length === 0) break;
    for (const [i, row] of page.entries()) {
      const problem = await diagnose(row, page[i + 1]);
      if (problem) {
        rowProblem = problem;
        break walk;
      }
      firstSeq ??= row.seq;
      // Each retention step commits with its own record (retention.ts), so after any committed
      // step one of them names the seq the log now starts at; the others name earlier starts.
      if (row.type === 'audit.pruned') {
        const anchor = row.details?.['anchor_seq'];
        if (anchor === firstSeq) pruneRecorded = true;
        else if (typeof anchor === 'number') latestRecorded = anchor;
      }
      rows += 1;
      prev = row;
      source.onRow?.(row);
      recent.set(row.hash, row.seq);
      if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
    }
    after = page.at(-1)!.seq;
  }

  // Without a row problem every checkpoint up to the last row has been passed: the last of them is
  // where a cut tail was cut. The rest are checked (signatures, a tail cut before them) and counted.
  const before = checkpoints.last;
  await checkpoints.advanceTo(Number.POSITIVE_INFINITY);
  const latest = checkpoints.last;
  if (!rowProblem && latest && (prev?.seq ?? 0) < latest.seq) {
    const seq = (prev?.seq ?? 0) + 1;
    rowProblem = {
      seq,
      kind: 'truncated',
      detail: `log ends at seq ${prev?.seq ?? 0}${before ? ` (truncated after checkpoint ${before.seq})` : ''}, but a signed checkpoint vouches for seq ${latest.seq}`,
    };
  }
  // A log that starts after seq 1 must say so itself: retention records every prune in the chain,
  // so a prefix cut at a checkpoint by someone else (no HMAC'd audit.pruned row) is caught.
  if (!rowProblem && source.start === 'strict' && firstSeq !== null && firstSeq > 1 && !pruneRecorded) {
    const recorded = latestRecorded === undefined ? '' : ` (the latest audit.pruned event left the log starting at seq ${latestRecorded})`;
    rowProblem = {
      seq: 1,
      kind: 'missing',
      detail: `seq 1-${firstSeq - 1} missing: no audit.pruned event records their removal${recorded}`,
    };
  }
  const problems: ChainProblem[] = [...checkpoints.problems];
  if (rowProblem) problems.push(rowProblem);
  const unconfiguredKeys = [...unconfigured.values()].sort((a, b) => a.firstSeq - b.firstSeq);
  const problem =
    problems.sort((a, b) => a.seq - b.seq)[0] ??
    (unconfiguredKeys.length === 0
      ? null
      : {
          seq: unconfiguredKeys[0]!.firstSeq,
          kind: 'unknown-key' as const,
          detail: `${describeUnconfigured(unconfiguredKeys)}, so their HMACs cannot be checked; ${UNCONFIGURED_KEY_FIX}`,
          unconfiguredKeys,
        });
  return {
    rows,
    firstSeq,
    lastSeq: prev?.seq ?? null,
    lastHash: prev?.hash ?? null,
    checkpoints: checkpoints.count,
    latestCheckpoint: latest,
    hmac: !canHmac ? 'not-checked' : hmacMismatch ? 'mismatch' : problem ? 'incomplete' : 'verified',
    problem,
  };
}
