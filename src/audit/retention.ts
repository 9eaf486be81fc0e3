import { auditEvent } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { checkpointSignatureValid } from './checkpoint.js';
import { publicKeysOf } from './signing-key.js';
import type { AuditWriter } from './writer.js';

/** Rows deleted per transaction at most (when checkpoints allow), so pruning never holds the write lock long. */
const STEP_ROWS = 10_000;

/**
 * Deletes audit rows older than `retentionSeconds`, but only up to a signed checkpoint: the
 * first remaining row is always a checkpointed one, so the rest of the chain still verifies from
 * that anchor. Rows between the anchor and the cut-off stay (at most one checkpoint interval of
 * them). Deletes go through the store's retention gate in steps that each end at a checkpoint,
 * and the pruning itself is recorded as an `audit.pruned` event. Anchors are checkpoints whose
 * signature verifies under a stored audit signing key. On PostgreSQL the store also refuses rows
 * younger than the database's retention floor, which only `creddy store migrate` sets.
 */
export async function pruneAudit(
  deps: { store: Store; audit: Pick<AuditWriter, 'write' | 'flush'>; now: () => number; actor: string },
  retentionSeconds: number,
): Promise<{ deleted: number; anchorSeq: number | undefined }> {
  const { store } = deps;
  const first = (await store.audit.query({ order: 'asc', limit: 1 }))[0];
  const head = await store.audit.head();
  if (!first || !head) return { deleted: 0, anchorSeq: undefined };
  const cutoff = deps.now() - retentionSeconds * 1000;
  const firstKept = (await store.audit.firstSeqFrom(cutoff)) ?? head.seq + 1;
  // Only checkpoints the audit signing key really signed: a runtime role may INSERT checkpoint
  // rows, and a forged one must not become the anchor the rest of the log hangs from.
  const keys = (await store.audit.signingKeys()).flatMap((record) => {
    try {
      return publicKeysOf([record]);
    } catch {
      return []; // not a key at all (a row the runtime role made up): it vouches for nothing
    }
  });
  const anchors = (await store.audit.checkpoints({ fromSeq: first.seq + 1, toSeq: firstKept }))
    .filter((c) => checkpointSignatureValid(c, keys))
    .map((c) => c.seq);
  const target = anchors.at(-1);
  if (target === undefined) return { deleted: 0, anchorSeq: undefined };

  let deleted = 0;
  let from = first.seq;
  for (let i = 0; i < anchors.length; i++) {
    const anchor = anchors[i]!;
    const next = anchors[i + 1];
    // Take the furthest anchor that keeps the step under STEP_ROWS (always at least one).
    if (next !== undefined && next - from <= STEP_ROWS) continue;
    deleted += await store.audit.pruneBelow(anchor);
    from = anchor;
  }
  await deps.audit.write({
    event: auditEvent({
      time: deps.now(),
      type: 'audit.pruned',
      outcome: 'success',
      actor: deps.actor,
      details: { deleted, anchor_seq: target, retention_seconds: retentionSeconds },
    }),
  });
  return { deleted, anchorSeq: target };
}

/** Runs pruneAudit at most once per `minGapMs` (the server's checkpoint timer ticks far more often). */
export function createPruner(deps: Parameters<typeof pruneAudit>[0], retentionSeconds: number, minGapMs = 3_600_000): () => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    if (deps.now() - last < minGapMs) return;
    last = deps.now();
    await pruneAudit(deps, retentionSeconds);
  };
}
