import type { Logger } from '../_utils/logger.js';
import type { WitnessConfig } from '../config/types.js';
import { CreddyError } from '../errors.js';
import type { KekSet } from '../keys/kek.js';
import type { AuditCheckpoint, AuditHead } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { checkpointSignatureValid } from './checkpoint.js';
import { type AuditPublicKey, kekVouchedKeys } from './signing-key.js';
import type { ChainProblem } from './verify-chain.js';
import { readWitness } from './witness.js';

/**
 * Proves the log still contains, and so extends, a checkpoint held outside the database: the
 * latest line of a witness, or a `SEQ:HASH` an operator noted. A cut tail (rows and checkpoints
 * deleted together) or a whole database restored from an older copy no longer contains it.
 * A full checkpoint must also carry a valid signature by one of `publicKeys`.
 */
export async function verifyWitnessed(
  store: Store,
  expected: AuditHead | AuditCheckpoint,
  publicKeys: readonly AuditPublicKey[],
  source: string,
): Promise<ChainProblem | null> {
  const { seq, hash } = expected;
  if ('signature' in expected && !checkpointSignatureValid(expected, publicKeys)) {
    return {
      seq,
      kind: 'bad-checkpoint',
      detail: `the checkpoint from ${source} is not signed by a known audit signing key (it names key ${expected.keyId})`,
    };
  }
  const [row] = await store.audit.query({ afterSeq: seq - 1, order: 'asc', limit: 1 });
  if (!row) {
    const head = await store.audit.head();
    return {
      seq,
      kind: 'truncated',
      detail: `the log ends at seq ${head?.seq ?? 0}, before seq ${seq} that ${source} holds: rows were cut or the database was rolled back`,
    };
  }
  if (row.seq !== seq) {
    // Retention pruned below an anchor: the checkpoint may survive even though its row does not.
    const [anchor] = await store.audit.checkpoints({ fromSeq: seq, toSeq: seq });
    if (anchor?.hash === hash) return null;
    return { seq, kind: 'missing', detail: `seq ${seq} (from ${source}) is no longer in the log; check against a later checkpoint` };
  }
  if (row.hash !== hash) {
    return {
      seq,
      kind: 'modified',
      detail: `seq ${seq} has hash ${row.hash.slice(0, 16)}…, ${source} holds ${hash.slice(0, 16)}…: the log was rewritten or rolled back to another history`,
    };
  }
  return null;
}

/**
 * At server start: refuses to serve from a log that no longer contains the latest witnessed
 * checkpoint (a database restored from an older copy would un-revoke credentials). A witness that
 * cannot be reached is logged, not fatal: the broker must not depend on it to run. The witnessed
 * checkpoint's signature counts only by an audit signing key the KEK opens (kekVouchedKeys, as
 * `audit verify` trusts): a key row added by someone with INSERT on the store but no KEK must
 * not make their own checkpoint pass for the witnessed one.
 */
export async function assertExtendsWitness(
  store: Store,
  witness: WitnessConfig,
  keks: KekSet,
  logger: Logger,
  read: (source: string) => Promise<AuditCheckpoint | undefined> = readWitness,
): Promise<void> {
  for (const source of [witness.file, witness.url]) {
    if (!source) continue;
    let checkpoint: AuditCheckpoint | undefined;
    try {
      checkpoint = await read(source);
    } catch (err) {
      logger.error('audit witness could not be read at start; not checked', { witness: source, error: (err as Error).message });
      continue;
    }
    if (!checkpoint) continue;
    const problem = await verifyWitnessed(store, checkpoint, kekVouchedKeys(await store.audit.signingKeys(), keks), source);
    if (problem) {
      throw new CreddyError('ERR_AUDIT_INVALID', `refusing to start: ${problem.detail} (witness ${source}, seq ${problem.seq})`);
    }
  }
}
