/**
 * The wire format between the main thread and the audit worker (audit-worker*.ts). A batch goes
 * over as ONE JSON string and comes back as the chain positions only, because structured-cloning
 * the entries (dozens of small objects per request) and the rows back cost the event loop more
 * than the commit itself: `postMessage` was ~16 % of the main thread under load. A string is
 * copied once; JSON.stringify/parse of plain data are among V8's fastest paths.
 *
 * The worker seals what it parsed, i.e. exactly what the row stores as JSON; the main thread
 * rebuilds the rows from the entries it already holds and the hashes the worker computed.
 */
import type { AppendedRows, AuditEntry, PortableSealer } from '../port.js';

/** A batch as sent: a JSON array of entries, revocation handles as base64 (bytes are not JSON). */
export type EncodedBatch = string;

/** A sealer as sent: the module to import and the HMAC key as hex (a string clones cheaply). */
export interface WireSealer {
  readonly module: string;
  readonly id: string;
  readonly keyHex: string;
}

/** What the worker answers for a committed batch: where the rows landed in the chain. */
export interface BatchResult {
  /** seq of the first row; the others follow one by one. */
  readonly seq: number;
  /** prev_hash of the first row. */
  readonly prevHash: string;
  /** Every row's hash, in order, joined by ','. */
  readonly hashes: string;
  readonly keyId: string;
  /** `AppendedRows.holderChanged`, when an entry's holder record changed (almost never). */
  readonly holderChanged?: AppendedRows['holderChanged'];
}

const wireSealers = new WeakMap<PortableSealer, WireSealer>();

/** The sealer in wire form, computed once per sealer. */
export function wireSealer(portable: PortableSealer): WireSealer {
  let wire = wireSealers.get(portable);
  if (!wire) {
    wire = { module: portable.module, id: portable.key.id, keyHex: Buffer.from(portable.key.key).toString('hex') };
    wireSealers.set(portable, wire);
  }
  return wire;
}

export function encodeBatch(entries: readonly AuditEntry[]): EncodedBatch {
  let out = '[';
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const handle = entry.credential?.revocationHandle;
    // Only an entry whose credential holds sealed bytes needs a copy; the rest go as they are.
    const plain = handle
      ? { ...entry, credential: { ...entry.credential!, revocationHandle: Buffer.from(handle).toString('base64') } }
      : entry;
    out += (i === 0 ? '' : ',') + JSON.stringify(plain);
  }
  return `${out}]`;
}

export function decodeBatch(batch: EncodedBatch): AuditEntry[] {
  const entries = JSON.parse(batch) as Array<AuditEntry & { credential?: { revocationHandle: string | null } }>;
  for (const entry of entries) {
    const handle = entry.credential?.revocationHandle;
    if (typeof handle === 'string') (entry.credential as { revocationHandle: unknown }).revocationHandle = Buffer.from(handle, 'base64');
  }
  return entries as AuditEntry[];
}

/** The worker's answer for the rows it appended (non-empty, in order, one sealer). */
export function batchResult(rows: AppendedRows): BatchResult {
  const first = rows[0]!;
  const result = { seq: first.seq, prevHash: first.prevHash, hashes: rows.map((r) => r.hash).join(','), keyId: first.keyId };
  return rows.holderChanged ? { ...result, holderChanged: rows.holderChanged } : result;
}

/** The rows on the main thread, from the entries it sent and the worker's answer. */
export function rowsFromResult(entries: readonly AuditEntry[], result: BatchResult): AppendedRows {
  const hashes = result.hashes.split(',');
  const rows: AppendedRows = [];
  if (result.holderChanged) rows.holderChanged = result.holderChanged;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!.event;
    // Field by field: one object of one shape per row (a spread here was the third largest
    // allocation of the issue path).
    rows.push({
      time: e.time,
      type: e.type,
      outcome: e.outcome,
      actor: e.actor,
      agent: e.agent,
      backend: e.backend,
      scopes: e.scopes,
      jti: e.jti,
      kid: e.kid,
      reason: e.reason,
      clientIp: e.clientIp,
      requestId: e.requestId,
      details: e.details,
      seq: result.seq + i,
      prevHash: i === 0 ? result.prevHash : hashes[i - 1]!,
      hash: hashes[i]!,
      keyId: result.keyId,
    });
  }
  return rows;
}
