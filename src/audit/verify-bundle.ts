import { CreddyError } from '../errors.js';
import { BUNDLE_FILES, BUNDLE_FORMAT, type BundleManifest, HASHED_FILES, sha256 } from './bundle.js';
import { readTar } from './bundle-tar.js';
import type { AuditKeySet } from './key.js';
import { checkpointFromJson, rowFromJson } from './row-json.js';
import { type AuditPublicKey, parsePublicKey, publicKeyFormats, publicKeyFromX, verifySignature } from './signing-key.js';
import { arrayPager, type ChainReport, verifyChain } from './verify-chain.js';

export interface BundleReport {
  /** True when the container, manifest signature, file hashes, checkpoints and chain all check out. */
  readonly ok: boolean;
  /** Where the trusted public key came from: pinned by the verifier, or only the bundle's own copy. */
  readonly key: 'pinned' | 'embedded';
  readonly manifest: BundleManifest | null;
  readonly chain: ChainReport | null;
  /** The first failure, in words. */
  readonly error: string | null;
}

const fail = (error: string, key: 'pinned' | 'embedded', manifest: BundleManifest | null = null): BundleReport => ({
  ok: false,
  key,
  manifest,
  chain: null,
  error,
});

function parseLines(data: Buffer, name: string): Array<Record<string, unknown>> {
  const text = data.toString('utf8');
  if (text.length > 0 && !text.endsWith('\n')) throw new CreddyError('ERR_AUDIT_INVALID', `${name}: last line is not terminated`);
  return text
    .split('\n')
    .slice(0, -1)
    .map((line, i) => {
      const value = JSON.parse(line) as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new CreddyError('ERR_AUDIT_INVALID', `${name} line ${i + 1}: not an object`);
      return value as Record<string, unknown>;
    });
}

/**
 * Verifies an export bundle offline: strict container, manifest signature (against `pinned` when
 * given), SHA-256 of every file, and the chain inside — prev_hash linkage, seq continuity,
 * checkpoint signatures and hashes; HMACs too when the audit key is at hand. Without the audit
 * key, a row's content is vouched for by the signed manifest and checkpoints, not by its HMAC.
 */
export async function verifyBundle(tar: Buffer, options: { pinned?: AuditPublicKey; keys?: AuditKeySet }): Promise<BundleReport> {
  const keySource = options.pinned ? 'pinned' : 'embedded';
  let files: Map<string, Buffer>;
  try {
    const entries = readTar(tar);
    if (entries.map((e) => e.name).join() !== BUNDLE_FILES.join())
      return fail(`bundle must hold exactly ${BUNDLE_FILES.join(', ')} in that order`, keySource);
    files = new Map(entries.map((e) => [e.name, e.data]));
  } catch (err) {
    return fail((err as Error).message, keySource);
  }
  const manifestBytes = files.get('manifest.json')!;
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
  if (!verifySignature(key, manifestBytes, files.get('manifest.sig')!)) {
    return fail(
      options.pinned ? 'manifest signature does not verify with the pinned public key' : 'manifest signature does not verify',
      keySource,
      manifest,
    );
  }
  // From here the manifest is authentic (under `key`); everything else must match it.
  if (manifest.signing_key.kid !== key.kid)
    return fail('manifest names a different signing key than the one that signed it', keySource, manifest);
  for (const name of HASHED_FILES) {
    const data = files.get(name)!;
    const expected = manifest.files[name];
    if (!expected || expected.sha256 !== sha256(data) || expected.bytes !== data.length)
      return fail(`${name} does not match the SHA-256 in the signed manifest`, keySource, manifest);
  }
  let embedded: AuditPublicKey;
  try {
    embedded = parsePublicKey(files.get('audit-signing-key.pem')!.toString('utf8'));
  } catch {
    return fail('audit-signing-key.pem is not an Ed25519 public key', keySource, manifest);
  }
  if (embedded.kid !== key.kid || publicKeyFormats(manifest.signing_key.x).jwk.kid !== key.kid)
    return fail("the bundle's public key is not the key that signed it", keySource, manifest);

  try {
    const rows = parseLines(files.get('events.ndjson')!, 'events.ndjson').map(rowFromJson);
    const checkpoints = parseLines(files.get('checkpoints.ndjson')!, 'checkpoints.ndjson').map(checkpointFromJson);
    const { events } = manifest;
    if (rows.length !== events.count || (rows[0]?.seq ?? null) !== events.first_seq || (rows.at(-1)?.seq ?? null) !== events.last_seq) {
      return fail("events.ndjson does not match the manifest's count and seq range", keySource, manifest);
    }
    const chain = await verifyChain({
      page: arrayPager(rows),
      checkpoints,
      publicKeys: [key],
      keys: options.keys,
      start: 'open',
    });
    const error = chain.problem ? `seq ${chain.problem.seq} ${chain.problem.kind}: ${chain.problem.detail}` : null;
    return { ok: error === null, key: keySource, manifest, chain, error };
  } catch (err) {
    return fail(`malformed bundle content: ${(err as Error).message}`, keySource, manifest);
  }
}
