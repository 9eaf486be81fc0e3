import type { AuditCheckpoint } from '../model/audit.js';
import { BUNDLE_FILES, BUNDLE_FORMAT, type BundleManifest, sha256 } from './bundle.js';
import { type MemberDigest, ndjsonMember, streamPager } from './bundle-read.js';
import { type BundleBytes, bundleBytes, indexTar, type TarEntry } from './bundle-tar.js';
import type { AuditKeySet } from './key.js';
import { checkpointFromJson, rowFromJson } from './row-json.js';
import { type AuditPublicKey, parsePublicKey, publicKeyFormats, publicKeyFromX, verifySignature } from './signing-key.js';
import { type ChainReport, verifyChain } from './verify-chain.js';

export interface BundleReport {
  /**
   * True only when the bundle is self-consistent *and* its origin is established: the manifest
   * verifies under a pinned key, or the audit key checked the HMAC of every event.
   */
  readonly ok: boolean;
  /** Container, manifest signature (by whichever key), file hashes, checkpoints and chain all check out. */
  readonly consistent: boolean;
  /** The origin is established (see `ok`); false for a bundle checked only against its own key. */
  readonly authenticated: boolean;
  /** Where the trusted public key came from: pinned by the verifier, or only the bundle's own copy. */
  readonly key: 'pinned' | 'embedded';
  readonly manifest: BundleManifest | null;
  readonly chain: ChainReport | null;
  /** The first failure, in words; for a consistent bundle of unknown origin, why it proves nothing. */
  readonly error: string | null;
}

export interface VerifyBundleOptions {
  /** The audit signing public key the verifier trusts (`--public-key`); without it, the bundle's own. */
  readonly pinned?: AuditPublicKey;
  /** The audit key: every event's HMAC is checked too. */
  readonly keys?: AuditKeySet;
  /** Told after each event checked, with the manifest's count (a progress display). */
  readonly onProgress?: (events: number, total: number) => void;
}

/** Caps on the small members, read whole: a forged bundle cannot make the verifier load gigabytes. */
const SMALL_MEMBER_BYTES: Readonly<Record<string, number>> = {
  'manifest.json': 1 << 20,
  'manifest.sig': 1024,
  'audit-signing-key.pem': 64 << 10,
};

const fail = (error: string, key: 'pinned' | 'embedded', manifest: BundleManifest | null = null, chain: ChainReport | null = null) =>
  ({ ok: false, consistent: false, authenticated: false, key, manifest, chain, error }) satisfies BundleReport;

/**
 * Verifies an export bundle offline: strict container, manifest signature (against `pinned` when
 * given), SHA-256 of every file, and the chain inside — prev_hash linkage, seq continuity,
 * checkpoint signatures and hashes; HMACs too when the audit key is at hand. Without the audit
 * key, a row's content is vouched for by the signed manifest and checkpoints, not by its HMAC;
 * without a pin or the audit key, by nothing but the bundle itself (`ok` is then false).
 *
 * `tar` may be a file opened with `openBundleFile`: it is read a member, and the events a line,
 * at a time — memory stays bounded by two 1 MiB read buffers, about two pages (4,000) of rows
 * and the longest line, whatever the bundle's size.
 */
export async function verifyBundle(tar: Buffer | BundleBytes, options: VerifyBundleOptions): Promise<BundleReport> {
  const bytes = Buffer.isBuffer(tar) ? bundleBytes(tar) : tar;
  const keySource = options.pinned ? 'pinned' : 'embedded';
  let members: Map<string, TarEntry>;
  const small = new Map<string, Buffer>();
  try {
    const entries = indexTar(bytes);
    if (entries.map((e) => e.name).join() !== BUNDLE_FILES.join())
      return fail(`bundle must hold exactly ${BUNDLE_FILES.join(', ')} in that order`, keySource);
    members = new Map(entries.map((e) => [e.name, e]));
    for (const [name, cap] of Object.entries(SMALL_MEMBER_BYTES)) {
      const entry = members.get(name)!;
      if (entry.size > cap) return fail(`${name} is larger than ${cap} bytes`, keySource);
      small.set(name, Buffer.from(bytes.read(entry.offset, entry.size)));
    }
  } catch (err) {
    return fail((err as Error).message, keySource);
  }
  const manifestBytes = small.get('manifest.json')!;
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as BundleManifest;
    if (manifest.format !== BUNDLE_FORMAT) return fail(`unknown bundle format ${String(manifest.format)}`, keySource);
  } catch {
    return fail('manifest.json is not JSON', keySource);
  }
  let key: AuditPublicKey;
  try {
    key = options.pinned ?? publicKeyFromX(manifest.signing_key.x);
  } catch {
    return fail('manifest names no valid signing key', keySource, manifest);
  }
  if (!verifySignature(key, manifestBytes, small.get('manifest.sig')!)) {
    return fail(
      options.pinned ? 'manifest signature does not verify with the pinned public key' : 'manifest signature does not verify',
      keySource,
      manifest,
    );
  }
  // From here the manifest is authentic (under `key`); everything else must match it.
  if (manifest.signing_key.kid !== key.kid)
    return fail('manifest names a different signing key than the one that signed it', keySource, manifest);
  const matches = (name: keyof BundleManifest['files'], digest: Omit<MemberDigest, 'lines'>): boolean => {
    const expected = manifest.files?.[name];
    return expected !== undefined && expected.sha256 === digest.sha256 && expected.bytes === digest.bytes;
  };
  const pem = small.get('audit-signing-key.pem')!;
  if (!matches('audit-signing-key.pem', { sha256: sha256(pem), bytes: pem.length }))
    return fail('audit-signing-key.pem does not match the SHA-256 in the signed manifest', keySource, manifest);
  let embedded: AuditPublicKey;
  try {
    embedded = parsePublicKey(pem.toString('utf8'));
  } catch {
    return fail('audit-signing-key.pem is not an Ed25519 public key', keySource, manifest);
  }
  if (embedded.kid !== key.kid || publicKeyFormats(manifest.signing_key.x).jwk.kid !== key.kid)
    return fail("the bundle's public key is not the key that signed it", keySource, manifest);

  // One pass over the events and, beside them, the checkpoints: each line is parsed, checked and
  // dropped. Their hashes are known only at the end, and a mismatch outranks what the walk found.
  const events = ndjsonMember(bytes, members.get('events.ndjson')!);
  const checkpointLines = ndjsonMember(bytes, members.get('checkpoints.ndjson')!);
  function* checkpoints(): Generator<AuditCheckpoint> {
    for (let line = checkpointLines.next(); line !== undefined; line = checkpointLines.next()) yield checkpointFromJson(line);
  }
  const counts: Partial<BundleManifest['events']> = manifest.events ?? {};
  const total = counts.count ?? 0;
  let chain: ChainReport | null = null;
  let malformed: string | null = null;
  let done = 0;
  try {
    chain = await verifyChain({
      page: streamPager(() => {
        const line = events.next();
        return line && rowFromJson(line);
      }),
      checkpoints: checkpoints(),
      publicKeys: [key],
      keys: options.keys,
      start: 'open',
      ...(options.onProgress ? { onRow: () => options.onProgress?.(++done, total) } : {}),
    });
  } catch (err) {
    malformed = (err as Error).message;
  }
  let eventsRead: MemberDigest;
  try {
    eventsRead = events.finish();
    for (const [name, digest] of [['events.ndjson', eventsRead] as const, ['checkpoints.ndjson', checkpointLines.finish()] as const])
      if (!matches(name, digest)) return fail(`${name} does not match the SHA-256 in the signed manifest`, keySource, manifest);
  } catch (err) {
    return fail((err as Error).message, keySource, manifest); // the file shrank while it was read
  }
  if (malformed !== null || chain === null) return fail(`malformed bundle content: ${malformed}`, keySource, manifest);
  const walked = chain.problem === null;
  if (eventsRead.lines !== counts.count || (walked && (chain.firstSeq !== counts.first_seq || chain.lastSeq !== counts.last_seq)))
    return fail("events.ndjson does not match the manifest's count and seq range", keySource, manifest);
  if (chain.problem) {
    const { seq, kind, detail } = chain.problem;
    return fail(`seq ${seq} ${kind}: ${detail}`, keySource, manifest, chain);
  }
  // Anyone can build a bundle that checks out against its own key; only a pinned key, or HMACs
  // under the audit key (at least one event's), say who wrote it.
  const authenticated = options.pinned !== undefined || (chain.hmac === 'verified' && chain.rows > 0);
  const error = authenticated
    ? null
    : `only self-consistent: the manifest is signed by the key inside the bundle, which anyone can make, and ${
        chain.hmac === 'verified'
          ? 'the bundle holds no event whose HMAC the audit key could check'
          : 'without the audit key no HMAC was checked'
      }`;
  return { ok: authenticated, consistent: true, authenticated, key: keySource, manifest, chain, error };
}
