import type { ChainReport } from '../audit/verify-chain.js';
import type { TrustReport } from '../audit/verify-store.js';
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

/** What a store's checkpoints were checked against, as `audit verify --json` prints it (`checkpoints_trusted`). */
export function trustJson(t: TrustReport): Record<string, unknown> {
  return {
    anchor: t.kind,
    key_ids: t.keyIds,
    ...(t.kekId === undefined ? {} : { kek_id: t.kekId }),
    untrusted_key_ids: t.untrustedKeyIds,
  };
}

/** The same, in words: what vouches for the keys the checkpoints were checked against. */
export function trustLine(t: TrustReport): string {
  const ids = (kids: readonly string[]): string => (kids.length === 0 ? 'none' : kids.join(', '));
  switch (t.kind) {
    case 'pinned':
      return `the pinned audit signing key ${ids(t.keyIds)} (--public-key)`;
    case 'kek': {
      const others =
        t.untrustedKeyIds.length === 0
          ? ''
          : `; ${t.untrustedKeyIds.length} stored key${t.untrustedKeyIds.length === 1 ? '' : 's'} the KEK does not open, NOT trusted: ${ids(t.untrustedKeyIds)}`;
      return `the audit signing keys the KEK (id ${t.kekId}) opens: ${ids(t.keyIds)}${others}`;
    }
    case 'stored':
      return `the audit signing keys stored in the database (${ids(t.keyIds)}), which nothing vouches for: no KEK is configured and no --public-key given, so a key row added by anyone who can write the database would pass; set CREDDY_KEK or pin with --public-key`;
  }
}
