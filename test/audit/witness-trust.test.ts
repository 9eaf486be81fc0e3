/**
 * The witness check at server start trusts a witnessed checkpoint's signature only by an audit
 * signing key the KEK opens, as `audit verify` does. Someone who can write the database and the
 * witness but has no KEK (a leaked runtime password, a witness endpoint they control) restores an
 * older copy, adds a key row of their own and witnesses a checkpoint it signs over the restored
 * head: the server must refuse to start, not take the rollback for the witnessed log.
 */
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointSigningInput } from '../../src/audit/checkpoint.js';
import { checkpointToJson } from '../../src/audit/row-json.js';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { generateSigningKey } from '../../src/keys/jwk.js';
import { createServices } from '../../src/services.js';
import { captureLogger, demoYaml, startBroker, type TestBroker, tempDir } from '../helpers/harness.js';
import { checkpointsEvery, copyDatabase, makeTraffic } from './helpers.js';

describe('server start: the witness is checked against KEK-vouched audit keys only', () => {
  let broker: TestBroker;
  const witnessDir = tempDir('creddy-witness-trust-');
  const witnessFile = join(witnessDir.dir, 'witness.ndjson');

  /** Starts services as the server does on a copy's data dir with the witness file; resolves to the error, if any. */
  const startOn = async (copy: { dir: string; config: string }): Promise<unknown> => {
    const yaml = `${demoYaml({ dataDir: join(copy.dir, 'data') })}\naudit:\n  witness:\n    file: ${witnessFile}\n`;
    writeFileSync(copy.config, yaml);
    const { logger } = captureLogger();
    try {
      const services = await createServices(parseConfig(yaml, copy.config, broker.env), { env: broker.env, logger, actor: 'server' });
      await services.close();
      return undefined;
    } catch (err) {
      return err;
    }
  };

  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(1000) });
    await makeTraffic(broker, 4);
  });
  afterAll(async () => {
    await broker?.stop();
    witnessDir.cleanup();
  });

  it('a real checkpoint the log contains lets the server start', async () => {
    await broker.services.auditCheckpoints.checkpointNow();
    const latest = (await broker.services.store.audit.checkpoints()).at(-1)!;
    writeFileSync(witnessFile, `${JSON.stringify(checkpointToJson(latest))}\n`);
    expect(await startOn(copyDatabase(broker, 'live'))).toBeUndefined();
  });

  it('a rolled-back copy with an added key row and a checkpoint it signs is refused', async () => {
    const old = copyDatabase(broker, 'rollback');
    const oldHead = (await broker.services.store.audit.head())!;
    const oldRow = (await broker.services.store.audit.query({ afterSeq: oldHead.seq - 1, limit: 1, order: 'asc' }))[0]!;
    await makeTraffic(broker, 3); // the live log moves on: the old copy is a rollback

    const forged = generateSigningKey();
    const conn = new Database(old.db);
    try {
      conn
        .prepare('INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(forged.kid, forged.x, randomBytes(64), broker.services.keks.current.id, Math.floor(Date.now() / 1000) + 1);
    } finally {
      conn.close();
    }
    const unsigned = { seq: oldRow.seq, hash: oldRow.hash, time: oldRow.time, keyId: forged.kid };
    const key = createPrivateKey({ key: Buffer.from(forged.privateDer), format: 'der', type: 'pkcs8' });
    const signature = sign(null, checkpointSigningInput(unsigned), key).toString('base64url');
    appendFileSync(witnessFile, `${JSON.stringify(checkpointToJson({ ...unsigned, signature }))}\n`);

    const err = await startOn(old);
    expect(isCreddyError(err, 'ERR_AUDIT_INVALID'), String(err)).toBe(true);
    expect((err as Error).message).toContain('refusing to start');
    expect((err as Error).message).toContain(`is not signed by a known audit signing key (it names key ${forged.kid})`);
  });
});
