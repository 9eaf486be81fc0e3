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
  const checkpoints = await store.audit.checkpoints();
  const publicKeys = pinned ? [pinned] : publicKeysOf(await store.audit.signingKeys());
  const report = await verifyChain({
    page: (afterSeq, limit) => store.audit.query({ afterSeq, limit, order: 'asc' }),
    checkpoints,
    publicKeys,
    keys,
    start: 'strict',
  });
  if (report.problem) return report;
  const problem =
    (anchors.witness && (await verifyWitnessed(store, anchors.witness.checkpoint, publicKeys, anchors.witness.source))) ||
    (anchors.expect && (await verifyWitnessed(store, anchors.expect, publicKeys, '--expect'))) ||
    (await verifyStateAgainstLog(store));
  return problem ? { ...report, problem } : report;
}
