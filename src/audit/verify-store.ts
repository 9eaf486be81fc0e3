import type { AuditCheckpoint, AuditHead } from '../model/audit.js';
import type { Store } from '../store/port.js';
import type { AuditKeySet } from './key.js';
import { type AuditPublicKey, publicKeysOf } from './signing-key.js';
import { type ChainReport, verifyChain } from './verify-chain.js';
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
 * Verifies the whole log in a store: the chain (HMACs, linkage, signed checkpoints, no cut tail
 * before the latest checkpoint), then that it still contains every anchor held outside the
 * database, then that the keys and agents in the database all have their rows. Checkpoint
 * signatures are checked against `pinned` when given (an operator's copy of `creddy audit
 * pubkey`), else against the public keys stored in the database itself — which an attacker with
 * file access could replace, hence the pin.
 */
export async function verifyStore(
  store: Store,
  keys: AuditKeySet | undefined,
  pinned?: AuditPublicKey,
  anchors: Anchors = {},
): Promise<ChainReport> {
  const publicKeys = pinned ? [pinned] : publicKeysOf(await store.audit.signingKeys());
  const report = await walkChain(store, keys, publicKeys);
  if (report.problem) return report;
  const problem =
    (anchors.witness && (await verifyWitnessed(store, anchors.witness.checkpoint, publicKeys, anchors.witness.source))) ||
    (anchors.expect && (await verifyWitnessed(store, anchors.expect, publicKeys, '--expect'))) ||
    (await verifyStateAgainstLog(store));
  return problem ? { ...report, problem } : report;
}

/** Walks at most this many times when retention keeps pruning under the walk. */
const WALKS = 3;

/**
 * verifyChain over the store. The walk reads the log in pages, not from one snapshot, so a
 * retention step that commits meanwhile (a server's, another replica's, `audit prune`) deletes
 * rows between two pages and looks like a gap: when the walk finds a problem and the log's
 * first row has moved since it started, it walks the log again from its new start.
 */
async function walkChain(store: Store, keys: AuditKeySet | undefined, publicKeys: readonly AuditPublicKey[]): Promise<ChainReport> {
  const firstSeq = async (): Promise<number | undefined> => (await store.audit.query({ order: 'asc', limit: 1 }))[0]?.seq;
  for (let walk = 1; ; walk++) {
    const startedAt = await firstSeq();
    const report = await verifyChain({
      page: (afterSeq, limit) => store.audit.query({ afterSeq, limit, order: 'asc' }),
      checkpoints: await store.audit.checkpoints(),
      publicKeys,
      keys,
      start: 'strict',
    });
    if (!report.problem || walk === WALKS || (await firstSeq()) === startedAt) return report;
  }
}
