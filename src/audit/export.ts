import { CreddyError } from '../errors.js';
import type { AuditCheckpoint } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { BUNDLE_FORMAT, type BundleManifest, ndjsonLine, sha256 } from './bundle.js';
import { tarTrailer } from './bundle-tar.js';
import { type BundleOut, checkpointChunks, checkpointsIn, eventChunks, memberSum, type SeqRange, writeMember } from './export-write.js';
import type { AuditKeySet } from './key.js';
import { checkpointToJson, rowToJson } from './row-json.js';
import { type AuditSigner, publicKeyFormats, publicKeyFromX } from './signing-key.js';
import { verifyChain } from './verify-chain.js';

export type { BundleOut, BundleSink } from './export-write.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** What an export is doing, for a progress display: rows done out of the range's. */
export type ExportProgress = (phase: 'verifying' | 'writing', rows: number, total: number) => void;

/** The contiguous seq range from the first row at or after `since` to the last at or before `until`. */
async function seqRange(store: Store, since: number | undefined, until: number | undefined): Promise<SeqRange | undefined> {
  const first = (await store.audit.query({ ...(since !== undefined ? { since } : {}), order: 'asc', limit: 1 }))[0];
  const last = (await store.audit.query({ ...(until !== undefined ? { until } : {}), order: 'desc', limit: 1 }))[0];
  return first && last && first.seq <= last.seq ? { from: first.seq, to: last.seq } : undefined;
}

/**
 * Writes an export bundle (0600) of the rows whose time lies in [since, until]: the contiguous
 * seq range from the first such row to the last, the checkpoints inside it, the audit signing
 * public key, and a manifest of their SHA-256s signed by the audit signing key. The range is
 * verified first (HMACs included): creddy refuses to sign a manifest over a broken chain.
 *
 * Two passes over the store, a page of rows at a time, so memory does not grow with the range:
 * the first verifies the chain and measures each member (the manifest, first in the tar, names
 * their SHA-256s, and each tar header its size); the second writes them, hashing again.
 */
export async function exportBundle(
  deps: { store: Store; keys: AuditKeySet; signer: AuditSigner; issuer: string; now: () => number },
  /** `out`: where the bundle's bytes go, in order (a new file, a pipe). */
  options: { since?: number; until?: number; out: BundleOut; onProgress?: ExportProgress },
): Promise<BundleManifest> {
  const { store } = deps;
  const range = await seqRange(store, options.since, options.until);
  const total = range ? range.to - range.from + 1 : 0;
  const progress = options.onProgress ?? (() => {});

  const events = memberSum();
  const checkpoints = memberSum();
  const keyIds = new Set<string>();
  let verified = 0;
  async function* measured(source: AsyncIterable<AuditCheckpoint>): AsyncGenerator<AuditCheckpoint> {
    for await (const c of source) {
      checkpoints.add(ndjsonLine(checkpointToJson(c)));
      yield c;
    }
  }
  const report = await verifyChain({
    page: async (afterSeq, limit) => {
      if (!range) return [];
      const page = await store.audit.query({ afterSeq: Math.max(afterSeq, range.from - 1), order: 'asc', limit });
      return page.filter((row) => row.seq <= range.to);
    },
    checkpoints: range ? measured(checkpointsIn(store, range)) : [],
    publicKeys: [publicKeyFromX(deps.signer.publicX)],
    keys: deps.keys,
    start: 'open',
    onRow: (row) => {
      events.add(ndjsonLine(rowToJson(row)));
      keyIds.add(row.keyId);
      progress('verifying', ++verified, total);
    },
  });
  if (report.problem)
    throw new CreddyError(
      'ERR_AUDIT_INVALID',
      `refusing to export: seq ${report.problem.seq} ${report.problem.kind}: ${report.problem.detail}`,
    );

  const pem = Buffer.from(publicKeyFormats(deps.signer.publicX).pem);
  const sums = {
    'events.ndjson': events.done(),
    'checkpoints.ndjson': checkpoints.done(),
    'audit-signing-key.pem': { sha256: sha256(pem), bytes: pem.length },
  };
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    created_at: new Date(deps.now()).toISOString(),
    issuer: deps.issuer,
    range: { since: iso(options.since), until: iso(options.until) },
    events: { count: report.rows, first_seq: report.firstSeq, last_seq: report.lastSeq },
    checkpoints: report.checkpoints,
    audit_key_ids: [...keyIds],
    signing_key: { kid: deps.signer.kid, x: deps.signer.publicX },
    chain_verified_at_export: report.hmac === 'verified',
    files: sums,
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = deps.signer.sign(manifestBytes);

  const { out } = options;
  const sink = out.write;
  const sum = (data: Buffer) => ({ sha256: sha256(data), bytes: data.length });
  let written = 0;
  try {
    await writeMember(sink, 'manifest.json', sum(manifestBytes), [manifestBytes]);
    await writeMember(sink, 'manifest.sig', sum(signature), [signature]);
    const rows = range ? eventChunks(store, range, (n) => progress('writing', (written += n), total)) : [];
    await writeMember(sink, 'events.ndjson', sums['events.ndjson'], rows);
    await writeMember(sink, 'checkpoints.ndjson', sums['checkpoints.ndjson'], range ? checkpointChunks(store, range) : []);
    await writeMember(sink, 'audit-signing-key.pem', sums['audit-signing-key.pem'], [pem]);
    await sink(tarTrailer());
    out.commit?.();
  } catch (err) {
    out.abort?.();
    throw err;
  }
  return manifest;
}
