import type { Logger } from '../_utils/logger.js';
import type { AuditConfig } from '../config/types.js';
import type { KekSet } from '../keys/kek.js';
import type { Metrics } from '../metrics/port.js';
import { auditEvent } from '../model/audit.js';
import type { AuditSealer, Store } from '../store/port.js';
import { createSealer } from './chain.js';
import { type Checkpointer, createCheckpointer } from './checkpoint.js';
import type { AuditKey } from './key.js';
import { createPruner } from './retention.js';
import { type AuditSigner, loadAuditSigner } from './signing-key.js';
import { createWitness } from './witness.js';
import { type AuditWriter, createAuditWriter } from './writer.js';

/**
 * Wires the audit log: the group-commit writer, signed checkpoints (row count, timer, shutdown)
 * and retention pruning on the checkpoint timer. The audit signing key is loaded on first use.
 */
export function createAuditLog(deps: {
  store: Store;
  keks: KekSet;
  key: AuditKey;
  config: AuditConfig;
  now: () => number;
  logger: Logger;
  actor: string;
  metrics?: Metrics;
}): { writer: AuditWriter; checkpoints: Checkpointer; seal: AuditSealer } {
  const { store, keks, config, now, logger } = deps;
  let signer: Promise<AuditSigner> | undefined;
  const loadSigner = (): Promise<AuditSigner> =>
    (signer ??= loadAuditSigner({ store, keks, now, logger }).catch((err: unknown) => {
      signer = undefined; // retry on the next checkpoint rather than caching a failure
      throw err;
    }));
  const seal = createSealer(deps.key);
  const prune =
    config.retention === null ? async () => {} : createPruner({ store, keks, seal, now, actor: deps.actor }, config.retention, logger);
  const { witness } = config;
  const sink = witness.file || witness.url ? createWitness(witness, logger) : undefined;
  const checkpoints = createCheckpointer({
    store,
    logger,
    now,
    signer: loadSigner,
    every: config.checkpointEvery,
    intervalMs: config.checkpointInterval * 1000,
    onTick: prune,
    ...(sink ? { onCheckpoint: (checkpoint) => sink.record(checkpoint) } : {}),
  });
  const writer = createAuditWriter({
    store,
    seal,
    timeoutMs: config.writeTimeout * 1000,
    logger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    onCommit: (seq) => checkpoints.noteCommitted(seq),
    // A credential whose row committed after its request failed closed was never delivered:
    // deny-list it and record why, so the log and the credential table tell the truth.
    onLateCommit: async (row, entry) => {
      if (!entry.credential) return;
      // The deny-listing and its row in one transaction, as every revocation.
      const event = auditEvent({
        time: now(),
        type: 'credential.revoked',
        outcome: 'success',
        actor: 'server',
        agent: row.agent,
        backend: row.backend,
        scopes: row.scopes,
        jti: row.jti,
        kid: row.kid,
        reason: 'ERR_AUDIT_UNAVAILABLE',
        details: { late_commit_of_seq: row.seq },
      });
      await store.credentials.revoke(entry.credential.jti, Math.floor(now() / 1000), { audit: { events: [event], seal } });
    },
  });
  return { writer, checkpoints, seal };
}
