import type { AuditCheckpoint } from '../model/audit.js';
import { checkpointSignatureValid } from './checkpoint.js';
import type { AuditPublicKey } from './signing-key.js';

/** Checkpoints in seq order: an array, or a cursor read as the walk advances (too many to hold). */
export type CheckpointSource = Iterable<AuditCheckpoint> | AsyncIterable<AuditCheckpoint>;

/** A checkpoint that vouches for nothing (a ChainProblem of verify-chain, which imports this file). */
export interface CheckpointProblem {
  readonly seq: number;
  readonly kind: 'unknown-key' | 'bad-checkpoint';
  readonly detail: string;
}

/** The checkpoint at a row's seq, and why it does not vouch for that row (undefined: it does). */
export interface Anchor {
  readonly checkpoint: AuditCheckpoint;
  readonly unsigned: string | undefined;
}

/**
 * Reads checkpoints alongside the chain walk, one at a time, so a verifier holds only the one at
 * hand however many there are. Each is checked once as it is passed: its signature (problems are
 * collected in `problems`) and that seqs strictly increase (a store's primary key guarantees it;
 * a bundle that breaks it was not written by creddy).
 */
export function walkCheckpoints(
  source: CheckpointSource,
  publicKeys: readonly AuditPublicKey[],
  untrusted?: { readonly ids: ReadonlySet<string>; readonly why: string },
) {
  const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const problems: CheckpointProblem[] = [];
  let pending: AuditCheckpoint | undefined;
  let ended = false;
  let count = 0;
  let last: AuditCheckpoint | null = null;

  const peek = async (): Promise<AuditCheckpoint | undefined> => {
    if (pending === undefined && !ended) {
      const next = await iterator.next();
      if (next.done) ended = true;
      else pending = next.value;
    }
    return pending;
  };

  const check = (c: AuditCheckpoint): string | undefined => {
    let unsigned: string | undefined;
    if (last && c.seq <= last.seq) {
      unsigned = `is out of order (after the checkpoint at seq ${last.seq})`;
      problems.push({ seq: c.seq, kind: 'bad-checkpoint', detail: `checkpoint at seq ${c.seq} ${unsigned}` });
    } else if (!publicKeys.some((k) => k.kid === c.keyId)) {
      unsigned = untrusted?.ids.has(c.keyId)
        ? `is signed by audit signing key ${c.keyId}, which is ${untrusted.why}`
        : `is signed by unknown audit signing key ${c.keyId}`;
      problems.push({ seq: c.seq, kind: 'unknown-key', detail: `checkpoint at seq ${c.seq} ${unsigned}` });
    } else if (!checkpointSignatureValid(c, publicKeys)) {
      unsigned = 'has an invalid signature';
      problems.push({ seq: c.seq, kind: 'bad-checkpoint', detail: `checkpoint at seq ${c.seq} has an invalid signature` });
    }
    count += 1;
    last = c;
    return unsigned;
  };

  return {
    problems,
    /** Checks and passes every checkpoint with seq <= `seq`; returns the one at exactly `seq`. */
    async advanceTo(seq: number): Promise<Anchor | undefined> {
      let anchor: Anchor | undefined;
      for (let c = await peek(); c !== undefined && c.seq <= seq; c = await peek()) {
        pending = undefined;
        const unsigned = check(c);
        if (c.seq === seq) anchor = { checkpoint: c, unsigned };
      }
      return anchor;
    },
    /** The last checkpoint passed so far (after `advanceTo(Infinity)`: the latest of all). */
    get last(): AuditCheckpoint | null {
      return last;
    },
    get count(): number {
      return count;
    },
  };
}
