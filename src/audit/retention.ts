import type { Logger } from '../_utils/logger.js';
import type { KekSet } from '../keys/kek.js';
import { type AuditEvent, auditEvent } from '../model/audit.js';
import type { AuditSealer, PrunedRange, Store } from '../store/port.js';
import { checkpointSignatureValid } from './checkpoint.js';
import { kekVouchedKeys } from './signing-key.js';

/** Rows deleted per transaction at most (when checkpoints allow), so pruning never holds the write lock long. */
const STEP_ROWS = 10_000;

/** One committed step of a prune, as `onStep` is told of it. */
export interface PruneProgress extends PrunedRange {
  /** 1-based, of `steps` planned in this run. */
  readonly step: number;
  readonly steps: number;
  /** Rows deleted so far in this run, this step included. */
  readonly total: number;
}

/** What a prune did. */
export interface PruneResult {
  readonly deleted: number;
  /** Where the log starts now when this run pruned or recorded anything. */
  readonly anchorSeq: number | undefined;
  /** Steps committed (each with its own audit.pruned row). */
  readonly steps: number;
  /**
   * The log was found starting at this seq without an audit.pruned row naming it (a prune of an
   * earlier version interrupted before its record, or a cut by someone else); see pruneAudit.
   */
  readonly unrecordedStart?: number;
  /** Why nothing was deleted, when nothing was (for the CLI to say so). */
  readonly idle?: PruneIdle;
}

/**
 * Why a prune deleted nothing: the log is empty (`emptied` when the store holds signing keys,
 * whose key.created rows the log must hold: its rows were removed behind creddy's back); no row
 * is older than the retention; or some
 * are (`older` of them), but no signed checkpoint lies between them and the first younger row,
 * and the log is only ever cut at one (it must start at a signed anchor).
 */
export type PruneIdle =
  | { readonly reason: 'empty' }
  | { readonly reason: 'emptied'; readonly signingKeys: number }
  | { readonly reason: 'within-retention' }
  | { readonly reason: 'no-anchor'; readonly older: number };

export interface PruneDeps {
  readonly store: Store;
  /** Opens the stored audit signing keys: only those anchor a prune (see kekVouchedKeys). */
  readonly keks: KekSet;
  /** Chains each step's audit.pruned row, which the store appends in the step's transaction. */
  readonly seal: AuditSealer;
  readonly now: () => number;
  readonly actor: string;
  /** Told of each committed step (the CLI's progress), in order; the next step waits for it. */
  readonly onStep?: (progress: PruneProgress) => void | Promise<void>;
  /** Test seam: called with `prune:step-N` once step N has committed, so a test can kill the process there. */
  readonly crash?: (step: string) => void;
}

/**
 * Deletes audit rows older than `retentionSeconds`, but only up to a signed checkpoint: the
 * first remaining row is always a checkpointed one, so the rest of the chain still verifies from
 * that anchor. Rows between the anchor and the cut-off stay (at most one checkpoint interval of
 * them). Anchors are checkpoints whose signature verifies under a stored audit signing key the KEK
 * opens (kekVouchedKeys). On
 * PostgreSQL the store also refuses rows younger than the database's retention floor, which only
 * `creddy store migrate` sets.
 *
 * Deletes go through the store's retention gate in steps of at most STEP_ROWS rows that each end
 * at an anchor, and each step commits together with its own `audit.pruned` row naming what it
 * removed (`from_seq`-`to_seq`, `anchor_seq`): the log verifies after every committed step, so
 * a process killed (or an audit write refused) between steps leaves a log that verifies, and the
 * next run goes on from where it stopped.
 *
 * A log that starts at a checkpoint no audit.pruned row names (left so by an earlier version,
 * which wrote its one record after all steps) is recorded as found, with `unrecorded_start`, when
 * that checkpoint verifies and its row is older than the retention: the rows below it, written
 * before it, are rows this run would remove anyway (with nothing else to prune, only if the store
 * finds it still so under the audit chain's lock: `recordPrunedStart`). Any other unexplained
 * start stays for `audit verify` to report.
 */
export async function pruneAudit(deps: PruneDeps, retentionSeconds: number): Promise<PruneResult> {
  const { store } = deps;
  const first = (await store.audit.query({ order: 'asc', limit: 1 }))[0];
  const head = await store.audit.head();
  if (!first || !head) {
    // Every command that opens a store records its signing keys (key.created) first, and a prune
    // always leaves an anchor: an empty log beside key rows was emptied by someone else.
    const signingKeys = (await store.keys.list()).length;
    const idle: PruneIdle = signingKeys > 0 ? { reason: 'emptied', signingKeys } : { reason: 'empty' };
    return { deleted: 0, anchorSeq: undefined, steps: 0, idle };
  }
  const cutoff = deps.now() - retentionSeconds * 1000;
  const firstKept = (await store.audit.firstSeqFrom(cutoff)) ?? head.seq + 1;
  // Only checkpoints the audit signing key really signed: a runtime role may INSERT checkpoint
  // rows, and signing-key rows too, and a forged one must not become the anchor the rest of the
  // log hangs from. So only keys whose private half opens with the KEK count.
  const keys = kekVouchedKeys(await store.audit.signingKeys(), deps.keks);
  const verified = (await store.audit.checkpoints({ fromSeq: first.seq, toSeq: firstKept }))
    .filter((c) => checkpointSignatureValid(c, keys))
    .map((c) => c.seq);
  const plan = planSteps(
    first.seq,
    verified.filter((seq) => seq > first.seq),
  );
  const unrecorded = first.seq > 1 && !(await pruneRecorded(store, first.seq)) ? first.seq : undefined;
  const event = (details: Record<string, unknown>): AuditEvent =>
    auditEvent({
      time: deps.now(),
      type: 'audit.pruned',
      outcome: 'success',
      actor: deps.actor,
      details: { ...details, retention_seconds: retentionSeconds },
    });
  const found = unrecorded === undefined ? {} : { unrecordedStart: unrecorded };

  if (plan.length === 0) {
    const idle: PruneIdle = firstKept <= first.seq ? { reason: 'within-retention' } : { reason: 'no-anchor', older: firstKept - first.seq };
    // Recorded only when retention itself would have cut there: a signed anchor older than the
    // retention (so were the rows before it). A younger start stays for verify to report.
    if (unrecorded === undefined || first.time >= cutoff || !verified.includes(unrecorded)) {
      return { deleted: 0, anchorSeq: undefined, steps: 0, ...found, idle };
    }
    // Decided on reads outside the audit chain's lock: the store decides again under it, so a
    // pruner that recorded this start (or pruned past it) meanwhile is not contradicted by a
    // second record naming a start the log may no longer have.
    const recorded = await store.audit.recordPrunedStart(unrecorded, {
      event: event({ deleted: 0, anchor_seq: unrecorded, unrecorded_start: unrecorded }),
      seal: deps.seal,
    });
    if (!recorded) return { deleted: 0, anchorSeq: undefined, steps: 0 };
    return { deleted: 0, anchorSeq: unrecorded, steps: 0, ...found };
  }

  let total = 0;
  for (const [i, anchor] of plan.entries()) {
    let removed: PrunedRange = { fromSeq: anchor, anchorSeq: anchor, deleted: 0 };
    const deleted = await store.audit.pruneBelow(anchor, {
      event: (range) => {
        removed = range;
        const { fromSeq, anchorSeq, deleted } = range;
        // The first step says how it found the log, so that fact outlives the rows that showed
        // it — only if the step, in its own transaction, still starts there: another pruner may
        // have recorded and moved past that start since it was read.
        const extra = i === 0 && unrecorded !== undefined && fromSeq === unrecorded ? { unrecorded_start: unrecorded } : {};
        return event({ deleted, from_seq: fromSeq, to_seq: anchorSeq - 1, anchor_seq: anchorSeq, ...extra });
      },
      seal: deps.seal,
    });
    total += deleted;
    await deps.onStep?.({ ...removed, deleted, step: i + 1, steps: plan.length, total });
    deps.crash?.(`prune:step-${i + 1}`);
  }
  return { deleted: total, anchorSeq: plan.at(-1), steps: plan.length, ...found };
}

/**
 * The anchors each step ends at: from `from`, the furthest anchor that keeps a step within
 * STEP_ROWS rows, or the next one when none does (every step ends at an anchor); the last
 * anchor always ends the last step.
 */
function planSteps(from: number, anchors: readonly number[]): number[] {
  const steps: number[] = [];
  let start = from;
  for (const [i, anchor] of anchors.entries()) {
    const next = anchors[i + 1];
    if (next !== undefined && next - start <= STEP_ROWS) continue;
    steps.push(anchor);
    start = anchor;
  }
  return steps;
}

/** True when an audit.pruned row names `seq` as where it left the log starting. */
async function pruneRecorded(store: Store, seq: number): Promise<boolean> {
  const rows = await store.audit.query({ type: 'audit.pruned', limit: 10_000, order: 'desc' });
  return rows.some((row) => row.details?.['anchor_seq'] === seq);
}

/**
 * Runs pruneAudit at most once per `minGapMs` (the server's checkpoint timer ticks far more
 * often), and logs a log start that no audit.pruned row explained.
 */
export function createPruner(deps: PruneDeps, retentionSeconds: number, logger: Logger, minGapMs = 3_600_000): () => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    if (deps.now() - last < minGapMs) return;
    last = deps.now();
    const result = await pruneAudit(deps, retentionSeconds);
    if (result.unrecordedStart !== undefined) logger.warn('audit log started without a record of its prune', unrecordedFacts(result));
  };
}

/** What to say of a log start no audit.pruned row explained (the server's log, the CLI's warning). */
export function unrecordedFacts(result: PruneResult): { first_seq: number | undefined; recorded: boolean; hint: string } {
  return {
    first_seq: result.unrecordedStart,
    recorded: result.anchorSeq !== undefined,
    hint:
      result.anchorSeq === undefined
        ? 'rows below it were removed without an audit.pruned row and it is not an anchor retention would prune to: audit verify reports it'
        : 'rows below it were removed without an audit.pruned row (a prune of an earlier version interrupted, or someone else); this prune recorded it (unrecorded_start)',
  };
}
