import { writePrivateFile } from '../_utils/fs.js';
import { CreddyError } from '../errors.js';
import type { AuditRow } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { BUNDLE_FORMAT, type BundleManifest, ndjson, sha256 } from './bundle.js';
import { writeTar } from './bundle-tar.js';
import type { AuditKeySet } from './key.js';
import { checkpointToJson, rowToJson } from './row-json.js';
import { type AuditSigner, publicKeyFormats, publicKeyFromX } from './signing-key.js';
import { arrayPager, verifyChain } from './verify-chain.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * Writes an export bundle (0600) of the rows whose time lies in [since, until]: the contiguous
 * seq range from the first such row to the last, the checkpoints inside it, the audit signing
 * public key, and a manifest of their SHA-256s signed by the audit signing key. The range is
 * verified first (HMACs included): creddy refuses to sign a manifest over a broken chain.
 */
export async function exportBundle(
  deps: { store: Store; keys: AuditKeySet; signer: AuditSigner; issuer: string; now: () => number },
  /** `out`: a file (created 0600), or where to hand the bundle's bytes (a pipe). */
  options: { since?: number; until?: number; out: string | ((tar: Buffer) => void) },
): Promise<BundleManifest> {
  const { store } = deps;
  const first = (await store.audit.query({ ...(options.since !== undefined ? { since: options.since } : {}), order: 'asc', limit: 1 }))[0];
  const last = (await store.audit.query({ ...(options.until !== undefined ? { until: options.until } : {}), order: 'desc', limit: 1 }))[0];
  const rows: AuditRow[] = [];
  if (first && last && first.seq <= last.seq) {
    for (let after = first.seq - 1; after < last.seq; ) {
      const page = await store.audit.query({ afterSeq: after, order: 'asc', limit: 5000 });
      if (page.length === 0) break;
      for (const row of page) if (row.seq <= last.seq) rows.push(row);
      after = page.at(-1)!.seq;
    }
  }
  const firstSeq = rows[0]?.seq ?? null;
  const lastSeq = rows.at(-1)?.seq ?? null;
  const checkpoints = firstSeq === null || lastSeq === null ? [] : await store.audit.checkpoints({ fromSeq: firstSeq, toSeq: lastSeq });

  const report = await verifyChain({
    page: arrayPager(rows),
    checkpoints,
    publicKeys: [publicKeyFromX(deps.signer.publicX)],
    keys: deps.keys,
    start: 'open',
  });
  if (report.problem)
    throw new CreddyError(
      'ERR_AUDIT_INVALID',
      `refusing to export: seq ${report.problem.seq} ${report.problem.kind}: ${report.problem.detail}`,
    );

  const files = {
    'events.ndjson': ndjson(rows.map(rowToJson)),
    'checkpoints.ndjson': ndjson(checkpoints.map(checkpointToJson)),
    'audit-signing-key.pem': Buffer.from(publicKeyFormats(deps.signer.publicX).pem),
  };
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    created_at: new Date(deps.now()).toISOString(),
    issuer: deps.issuer,
    range: { since: iso(options.since), until: iso(options.until) },
    events: { count: rows.length, first_seq: firstSeq, last_seq: lastSeq },
    checkpoints: checkpoints.length,
    audit_key_ids: [...new Set(rows.map((r) => r.keyId))],
    signing_key: { kid: deps.signer.kid, x: deps.signer.publicX },
    chain_verified_at_export: report.hmac === 'verified',
    files: Object.fromEntries(
      Object.entries(files).map(([name, data]) => [name, { sha256: sha256(data), bytes: data.length }]),
    ) as BundleManifest['files'],
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const tar = writeTar([
    { name: 'manifest.json', data: manifestBytes },
    { name: 'manifest.sig', data: deps.signer.sign(manifestBytes) },
    ...Object.entries(files).map(([name, data]) => ({ name, data })),
  ]);
  if (typeof options.out === 'string') writePrivateFile(options.out, tar);
  else options.out(tar);
  return manifest;
}
