/**
 * Worker thread that owns a second connection and runs audit append transactions, so the fsync
 * of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction = one batch of the group commit.
 * Batches arrive as one JSON string and leave as their chain positions (audit-batch.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditSealer } from '../port.js';
import { createAppendTransaction } from './audit-append.js';
import { batchResult, decodeBatch, type EncodedBatch, type WireSealer } from './audit-batch.js';
import { openSqlite } from './connect.js';

interface AppendMessage {
  readonly id: number;
  readonly batch: EncodedBatch;
  readonly sealer: WireSealer;
}

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path, { durable });
const appendAll = createAppendTransaction(db);

// The sealer comes as data (the module that builds it, and its key): the store never imports
// audit code, and the worker rebuilds the very function the main thread would have run.
const sealers = new Map<string, AuditSealer>();
const sealerFor = async ({ module, id, keyHex }: WireSealer): Promise<AuditSealer> => {
  const cacheKey = `${module}#${id}`;
  let seal = sealers.get(cacheKey);
  if (!seal) {
    const { createSealer } = (await import(module)) as { createSealer(k: { id: string; key: Buffer }): AuditSealer };
    seal = createSealer({ id, key: Buffer.from(keyHex, 'hex') });
    sealers.set(cacheKey, seal);
  }
  return seal;
};

parentPort!.on('message', (message: AppendMessage) => {
  sealerFor(message.sealer)
    .then((seal) => parentPort!.postMessage({ id: message.id, result: batchResult(appendAll.immediate(decodeBatch(message.batch), seal)) }))
    .catch((err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }));
});
