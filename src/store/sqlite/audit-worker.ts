/**
 * Worker thread that owns a second connection and runs audit append transactions, so the fsync
 * of a durable commit (synchronous=FULL) happens off the main event loop. Started by
 * audit-worker-client.ts; one message in = one transaction = one batch of the group commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createSealer } from '../../audit/chain.js';
import type { AuditEntry } from '../types.js';
import { createAppendTransaction } from './audit-append.js';
import { openSqlite } from './open.js';

interface AppendMessage {
  readonly type: 'append';
  readonly id: number;
  readonly entries: readonly AuditEntry[];
  readonly key: { readonly id: string; readonly key: Uint8Array };
}
type Message = AppendMessage | { readonly type: 'durable'; readonly durable: boolean };

const { path, durable } = workerData as { path: string; durable: boolean };
const db = openSqlite(path);
if (!durable) db.pragma('synchronous = OFF');
const appendAll = createAppendTransaction(db);

parentPort!.on('message', (message: Message) => {
  if (message.type === 'durable') {
    db.pragma(`synchronous = ${message.durable ? 'FULL' : 'OFF'}`);
    return;
  }
  try {
    const rows = appendAll.immediate(message.entries, createSealer({ id: message.key.id, key: Buffer.from(message.key.key) }));
    parentPort!.postMessage({ id: message.id, rows });
  } catch (err) {
    parentPort!.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) });
  }
});
