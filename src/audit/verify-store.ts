import type { KekSet } from '../keys/kek.js';
import type { AuditCheckpoint, AuditHead } from '../model/audit.js';
import type { Store } from '../store/port.js';
import type { AuditKeySet } from './key.js';
import { type AuditPublicKey, kekVouchedKeys, publicKeysOf } from './signing-key.js';
import { type ChainReport, type UntrustedKeys, verifyChain } from './verify-chain.js';
import { verifyStateAgainstLog } from './verify-state.js';
import { verifyWitnessed } from './verify-witness.js';

/** Checkpoints held outside the database that the log must still contain. */
export interface Anchors {
  /** The latest checkpoint of a witness (`--witness`), with where it came from. */
  readonly witness?: { readonly checkpoint: AuditCheckpoint; readonly source: string };
  /** A `SEQ:HASH` the operator noted (`--expect`). */
  readonly expect?: AuditHead;
}

/**
 * Which audit signing keys a store's checkpoints are checked against:
 * - `pinned`: the operator's copy of `creddy audit pubkey` (`--public-key`), and nothing else;
 * - `kek`: the stored keys whose sealed private half the KEK opens (kekVouchedKeys): a key row
 *   that someone with write access to the database but without the KEK added vouches for nothing;
 * - `stored`: every stored key — without a KEK or a pin nothing tells a real key from an added one.
 */
export type CheckpointTrust =
  | { readonly kind: 'pinned'; readonly key: AuditPublicKey }
  | { readonly kind: 'kek'; readonly keks: KekSet }
  | { readonly kind: 'stored' };

/** What the checkpoints were checked against, as `audit verify` reports it. */
export interface TrustReport {
  readonly kind: CheckpointTrust['kind'];
  /** The keys trusted (kids). */
  readonly keyIds: readonly string[];
  /** With `kek`: the id of the KEK that vouched for them. */
  readonly kekId?: string;
  /** With `kek`: stored keys the KEK does not open, which were not trusted (kids only). */
  readonly untrustedKeyIds: readonly string[];
}

export type StoreReport = ChainReport & { readonly trust: TrustReport };

/**
 * Verifies the whole log in a store: the chain (HMACs, linkage, signed checkpoints, no cut tail
 * before the latest checkpoint), then that it still contains every anchor held outside the
 * database, then that the keys and agents in the database all have their rows. Checkpoint
 * signatures are checked against the keys `trust` names (see CheckpointTrust): a checkpoint signed
 * by any other key is a problem (`unknown-key`), one signed by a stored key the KEK does not open
 * is named as such.
 */
export async function verifyStore(
  store: Store,
  keys: AuditKeySet | undefined,
  trust: CheckpointTrust = { kind: 'stored' },
  anchors: Anchors = {},
): Promise<StoreReport> {
  const { publicKeys, report: trustReport, untrusted } = await trustedKeys(store, trust);
  const report = { ...(await walkChain(store, keys, publicKeys, untrusted)), trust: trustReport };
  if (report.problem) return report;
  const problem =
    (anchors.witness && (await verifyWitnessed(store, anchors.witness.checkpoint, publicKeys, anchors.witness.source))) ||
    (anchors.expect && (await verifyWitnessed(store, anchors.expect, publicKeys, '--expect'))) ||
    (await verifyStateAgainstLog(store));
  return problem ? { ...report, problem } : report;
}

async function trustedKeys(
  store: Store,
  trust: CheckpointTrust,
): Promise<{ publicKeys: AuditPublicKey[]; report: TrustReport; untrusted: UntrustedKeys | undefined }> {
  if (trust.kind === 'pinned')
    return { publicKeys: [trust.key], report: { kind: 'pinned', keyIds: [trust.key.kid], untrustedKeyIds: [] }, untrusted: undefined };
  const stored = await store.audit.signingKeys();
  if (trust.kind === 'stored') {
    // A row that is not a key at all (made up) is left out here as it is by kekVouchedKeys.
    const publicKeys = stored.flatMap((record) => {
      try {
        return publicKeysOf([record]);
      } catch {
        return [];
      }
    });
    return { publicKeys, report: { kind: 'stored', keyIds: publicKeys.map((k) => k.kid), untrustedKeyIds: [] }, untrusted: undefined };
  }
  const publicKeys = kekVouchedKeys(stored, trust.keks);
  const vouched = new Set(publicKeys.map((k) => k.kid));
  const untrustedKeyIds = stored.map((r) => r.kid).filter((kid) => !vouched.has(kid));
  return {
    publicKeys,
    report: { kind: 'kek', keyIds: [...vouched], kekId: trust.keks.current.id, untrustedKeyIds },
    untrusted: {
      ids: new Set(untrustedKeyIds),
      why: `a stored audit signing key whose private half the KEK (id ${trust.keks.current.id}) does not open: a key row added by someone without the KEK, so untrusted`,
    },
  };
}

/** Walks at most this many times when retention keeps pruning under the walk. */
const WALKS = 3;

/**
 * verifyChain over the store. The walk reads the log in pages, not from one snapshot, so a
 * retention step that commits meanwhile (a server's, another replica's, `audit prune`) deletes
 * rows between two pages and looks like a gap: when the walk finds a problem and the log's
 * first row has moved since it started, it walks the log again from its new start.
 */
async function walkChain(
  store: Store,
  keys: AuditKeySet | undefined,
  publicKeys: readonly AuditPublicKey[],
  untrusted: UntrustedKeys | undefined,
): Promise<ChainReport> {
  const firstSeq = async (): Promise<number | undefined> => (await store.audit.query({ order: 'asc', limit: 1 }))[0]?.seq;
  for (let walk = 1; ; walk++) {
    const startedAt = await firstSeq();
    const report = await verifyChain({
      page: (afterSeq, limit) => store.audit.query({ afterSeq, limit, order: 'asc' }),
      checkpoints: await store.audit.checkpoints(),
      publicKeys,
      ...(untrusted ? { untrusted } : {}),
      keys,
      start: 'strict',
    });
    if (!report.problem || walk === WALKS || (await firstSeq()) === startedAt) return report;
  }
}
