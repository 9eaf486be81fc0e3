import type { ChainReport } from '../audit/verify-chain.js';
import { isoTime } from './output.js';

/** A chain report as `audit verify --json` prints it (the store's and a bundle's `chain`). */
export function chainJson(r: ChainReport): Record<string, unknown> {
  return {
    events_verified: r.rows,
    first_seq: r.firstSeq,
    last_seq: r.lastSeq,
    last_hash: r.lastHash,
    checkpoints: r.checkpoints,
    latest_checkpoint: r.latestCheckpoint
      ? { seq: r.latestCheckpoint.seq, time: isoTime(r.latestCheckpoint.time), key_id: r.latestCheckpoint.keyId }
      : null,
    hmac: r.hmac,
    problem: r.problem && {
      seq: r.problem.seq,
      kind: r.problem.kind,
      detail: r.problem.detail,
      ...(r.problem.unconfiguredKeys
        ? {
            unconfigured_keys: r.problem.unconfiguredKeys.map((u) => ({
              key_id: u.keyId,
              first_seq: u.firstSeq,
              last_seq: u.lastSeq,
              rows: u.rows,
            })),
          }
        : {}),
    },
  };
}

/** `N events (seq A-B, head B:HASH), M signed checkpoints (latest …)`. */
export function chainLine(r: ChainReport): string {
  const range = r.firstSeq === null ? 'no events' : `${r.rows} events (seq ${r.firstSeq}-${r.lastSeq}, head ${r.lastSeq}:${r.lastHash})`;
  const cp = r.latestCheckpoint
    ? `${r.checkpoints} signed checkpoints (latest seq ${r.latestCheckpoint.seq} at ${isoTime(r.latestCheckpoint.time)})`
    : 'no checkpoints';
  return `${range}, ${cp}`;
}
