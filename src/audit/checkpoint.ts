import type { Logger } from '../_utils/logger.js';
import type { AuditCheckpoint, AuditHead } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { canonicalJson } from './chain.js';
import { type AuditPublicKey, type AuditSigner, verifySignature } from './signing-key.js';

/** The bytes a checkpoint signature covers; the prefix keeps them apart from any other signed data. */
export function checkpointSigningInput(c: Omit<AuditCheckpoint, 'signature'>): Buffer {
  return Buffer.from(`creddy-audit-checkpoint/v1\n${canonicalJson({ seq: c.seq, hash: c.hash, time: c.time, key_id: c.keyId })}`);
}

export function signCheckpoint(signer: AuditSigner, head: AuditHead, time: number): AuditCheckpoint {
  const unsigned = { seq: head.seq, hash: head.hash, time, keyId: signer.kid };
  return { ...unsigned, signature: signer.sign(checkpointSigningInput(unsigned)).toString('base64url') };
}

/** True when the checkpoint carries a valid signature by the key its keyId names. */
export function checkpointSignatureValid(c: AuditCheckpoint, keys: readonly AuditPublicKey[]): boolean {
  const key = keys.find((k) => k.kid === c.keyId);
  return key !== undefined && verifySignature(key, checkpointSigningInput(c), Buffer.from(c.signature, 'base64url'));
}

/** Writes signed checkpoints every `every` rows or `intervalMs`, and once more on stop. */
export interface Checkpointer {
  /** Called by the writer after each committed batch with the last seq it wrote; acts once started. */
  noteCommitted(seq: number): void;
  /** Signs the current head now if it has moved; resolves undefined when there was nothing new. */
  checkpointNow(): Promise<AuditCheckpoint | undefined>;
  /** Starts the interval timer (the server; short-lived CLI processes do not). */
  start(): void;
  /** Stops the timer and writes a final checkpoint (shutdown). */
  stop(): Promise<void>;
}

export function createCheckpointer(options: {
  store: Store;
  signer: () => Promise<AuditSigner>;
  now: () => number;
  every: number;
  intervalMs: number;
  logger: Logger;
  /** Extra periodic work on the same timer (retention pruning). */
  onTick?: () => Promise<void>;
  /** Told of every checkpoint made (the witness); must not throw. */
  onCheckpoint?: (checkpoint: AuditCheckpoint) => Promise<void>;
}): Checkpointer {
  const { store, logger } = options;
  let lastSeq = 0;
  let running: Promise<AuditCheckpoint | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const run = async (): Promise<AuditCheckpoint | undefined> => {
    const signer = await options.signer();
    const made = await store.audit.checkpoint((head) => signCheckpoint(signer, head, options.now()));
    if (made) {
      lastSeq = made.seq;
      await options.onCheckpoint?.(made);
    }
    return made;
  };
  // One checkpoint at a time; a caller arriving meanwhile waits for it and then runs its own.
  const checkpointNow = async (): Promise<AuditCheckpoint | undefined> => {
    while (running) await running.catch(() => undefined);
    running = run().finally(() => (running = undefined));
    return running;
  };
  const background = (): void => {
    checkpointNow().catch((err: unknown) => logger.error('audit checkpoint failed', { error: (err as Error).message }));
  };

  return {
    noteCommitted(seq) {
      // Only a started (server) checkpointer reacts: a CLI process exits right after its write.
      if (timer && seq - lastSeq >= options.every && !running) background();
    },
    checkpointNow,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        background();
        options.onTick?.().catch((err: unknown) => logger.error('audit retention failed', { error: (err as Error).message }));
      }, options.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await checkpointNow().catch((err: unknown) => logger.error('final audit checkpoint failed', { error: (err as Error).message }));
    },
  };
}
