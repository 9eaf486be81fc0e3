/**
 * A server whose store's audit log was emptied behind creddy's back (triggers dropped, every row
 * deleted) must not start, and must say why: its stored signing keys no longer match the log, so
 * none is used, and the bootstrap that would make new ones loses to the `current` row already
 * there. What it says names the key, the cause and `creddy audit verify`, not a bare "no key".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { attack, dbPath } from './helpers.js';

describe('a server on a store whose audit log was emptied', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker?.stop());

  it('refuses to start with ERR_AUDIT_INVALID naming the current key and audit verify', async () => {
    const kid = broker.services.keyring.signer().kid;
    await broker.stopServer();
    attack(dbPath(broker), (db) => db.exec('DELETE FROM audit_checkpoints; DELETE FROM audit_events'));
    const restart = broker.restart();
    await expect(restart).rejects.toMatchObject({
      code: 'ERR_AUDIT_INVALID',
      details: { kid },
      message: expect.stringContaining('Run `creddy audit verify`'),
    });
    await expect(restart).rejects.toMatchObject({ message: expect.stringContaining('or the audit log was emptied') });
    // The log says which rows were refused, and why.
    expect(broker.logLines.some((line) => line.includes('signing key row does not match the audit log') && line.includes(kid))).toBe(true);
  });
});
