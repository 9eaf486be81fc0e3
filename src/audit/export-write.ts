import { createHash } from 'node:crypto';
import { CreddyError } from '../errors.js';
import type { AuditCheckpoint, AuditRow } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { ndjsonLine } from './bundle.js';
import { tarHeader, tarPadding } from './bundle-tar.js';
import { checkpointToJson, rowToJson } from './row-json.js';

/** Where an export's bytes go, in order; a returned promise is awaited (backpressure). */
export type BundleSink = (chunk: Buffer) => void | Promise<void>;

/**
 * Where an export writes its bundle: `write` is first called once the range has verified, so a
 * refused export creates nothing; `commit` after the last byte (a file takes its name), `abort`
 * if the export fails part-way (a file's partial bytes are removed).
 */
export interface BundleOut {
  readonly write: BundleSink;
  readonly commit?: () => void;
  readonly abort?: () => void;
}

/** A seq range of the log, both ends included. */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

/** Rows read from the store per query (keyset pagination by seq). */
export const EXPORT_PAGE = 2000;
/** Checkpoints are read per this many seqs: at most one each, so never more than this at once. */
const CHECKPOINT_WINDOW = 10_000;

/** SHA-256 and size of a member, as the manifest lists them. */
export interface MemberSum {
  readonly sha256: string;
  readonly bytes: number;
}

/** Adds up what a member will hold, a line at a time, without keeping it. */
export function memberSum() {
  const hash = createHash('sha256');
  let bytes = 0;
  return {
    add(text: string): void {
      const data = Buffer.from(text);
      hash.update(data);
      bytes += data.length;
    },
    done: (): MemberSum => ({ sha256: hash.digest('hex'), bytes }),
  };
}

/** The rows of `range` in seq order, a page at a time (one query each). */
export async function* rowPages(store: Store, range: SeqRange): AsyncGenerator<AuditRow[]> {
  for (let after = range.from - 1; after < range.to; ) {
    const page = await store.audit.query({ afterSeq: after, order: 'asc', limit: EXPORT_PAGE });
    if (page.length === 0) return;
    yield page.filter((row) => row.seq <= range.to);
    after = page.at(-1)!.seq;
  }
}

/** The checkpoints inside `range`, in seq order, read a window of seqs at a time. */
export async function* checkpointsIn(store: Store, range: SeqRange): AsyncGenerator<AuditCheckpoint> {
  for (let from = range.from; from <= range.to; from += CHECKPOINT_WINDOW)
    yield* await store.audit.checkpoints({ fromSeq: from, toSeq: Math.min(range.to, from + CHECKPOINT_WINDOW - 1) });
}

/** NDJSON of the rows of `range`, one chunk per page. */
export async function* eventChunks(store: Store, range: SeqRange, onRows: (rows: number) => void): AsyncGenerator<Buffer> {
  for await (const page of rowPages(store, range)) {
    yield Buffer.from(page.map((row) => ndjsonLine(rowToJson(row))).join(''));
    onRows(page.length);
  }
}

/** NDJSON of the checkpoints of `range`, one chunk per window. */
export async function* checkpointChunks(store: Store, range: SeqRange): AsyncGenerator<Buffer> {
  let lines: string[] = [];
  for await (const checkpoint of checkpointsIn(store, range)) {
    lines.push(ndjsonLine(checkpointToJson(checkpoint)));
    if (lines.length >= EXPORT_PAGE) {
      yield Buffer.from(lines.join(''));
      lines = [];
    }
  }
  if (lines.length > 0) yield Buffer.from(lines.join(''));
}

/**
 * Writes one tar member whose size and SHA-256 the verifying pass measured (the header, which
 * comes first, needs the size). What is written is hashed again: if the log changed between the
 * passes (retention pruned inside the range), the export fails rather than sign other bytes.
 */
export async function writeMember(sink: BundleSink, name: string, sum: MemberSum, chunks: Iterable<Buffer> | AsyncIterable<Buffer>) {
  const changed = () => new CreddyError('ERR_AUDIT_INVALID', `refusing to export: the audit log changed while ${name} was written`);
  await sink(tarHeader(name, sum.bytes));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of chunks) {
    bytes += chunk.length;
    if (bytes > sum.bytes) throw changed();
    hash.update(chunk);
    await sink(chunk);
  }
  if (bytes !== sum.bytes || hash.digest('hex') !== sum.sha256) throw changed();
  await sink(tarPadding(bytes));
}
