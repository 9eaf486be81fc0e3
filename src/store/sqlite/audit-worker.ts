/**
 * Worker thread that owns a second connection and runs the audit log's write transactions, so
 * the fsync of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction: a batch of the group commit (one JSON
 * string in, chain positions out: audit-batch.ts), or a signed checkpoint to store.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditSealer } from '../port.js';
import { createAppendTransaction } from './audit-append.js';
import { batchResult, decodeBatch, type WireSealer } from './audit-batch.js';
import { createCheckpointInsert } from './audit-checkpoints.js';
import type { AuditWorkerRequest } from './audit-worker-client.js';
import { openSqlite } from './connect.js';

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path, { durable });
const appendAll = createAppendTransaction(db);
const insertCheckpoint = createCheckpointInsert(db);

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

const handle = async (message: AuditWorkerRequest): Promise<unknown> => {
  if (message.op === 'checkpoint') return insertCheckpoint.immediate(message.checkpoint);
  const seal = await sealerFor(message.sealer);
  return batchResult(appendAll.immediate(decodeBatch(message.batch), seal));
};

parentPort!.on('message', (message: AuditWorkerRequest & { id: number }) => {
  handle(message)
    .then((result) => parentPort!.postMessage({ id: message.id, result }))
    .catch((err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }));
});
