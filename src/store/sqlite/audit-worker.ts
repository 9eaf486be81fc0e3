/**
 * Worker thread that owns a second connection and runs audit append transactions, so the fsync
 * of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction = one batch of the group commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditEntry, AuditSealer, PortableSealer } from '../port.js';
import { createAppendTransaction } from './audit-append.js';
import { openSqlite } from './connect.js';

interface AppendMessage {
  readonly id: number;
  readonly entries: readonly AuditEntry[];
  readonly sealer: PortableSealer;
}

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path, { durable });
const appendAll = createAppendTransaction(db);

// The sealer comes as data (the module that builds it, and its key): the store never imports
// audit code, and the worker rebuilds the very function the main thread would have run.
const sealers = new Map<string, AuditSealer>();
const sealerFor = async ({ module, key }: PortableSealer): Promise<AuditSealer> => {
  const cacheKey = `${module}#${key.id}`;
  let seal = sealers.get(cacheKey);
  if (!seal) {
    const { createSealer } = (await import(module)) as { createSealer(k: { id: string; key: Buffer }): AuditSealer };
    seal = createSealer({ id: key.id, key: Buffer.from(key.key) });
    sealers.set(cacheKey, seal);
  }
  return seal;
};

parentPort!.on('message', (message: AppendMessage) => {
  sealerFor(message.sealer)
    .then((seal) => parentPort!.postMessage({ id: message.id, rows: appendAll.immediate(message.entries, seal) }))
    .catch((err: unknown) => parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) }));
});
