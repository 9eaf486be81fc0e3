/**
 * `creddy audit verify` on a store checks checkpoints only against audit signing keys something
 * vouches for: the pinned key (`--pubkey`), else the stored keys the KEK opens. Whoever can write
 * the database but has no KEK (a leaked runtime password) can add a key row of their own and
 * checkpoints it signs; those must not verify, and the output says what the check rested on.
 * Both stores.
 */
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointSigningInput } from '../../src/audit/checkpoint.js';
import { generateSigningKey } from '../../src/keys/jwk.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { writeTables } from '../helpers/raw-sql.js';
import { checkpointsEvery, makeTraffic } from './helpers.js';

describe.each(['sqlite', 'postgres'] as const)('audit verify trusts only vouched-for checkpoint keys (%s)', (engine) => {
  let db: FreshDatabase | undefined;
  let broker: TestBroker;
  let realKid: string;
  let kekId: string;
  const forged = generateSigningKey();
  const sealedGarbage = randomBytes(64);

  const verify = (...args: string[]) => runCli(['audit', 'verify', ...args, '--config', broker.configPath], broker.env);
  const verifyJson = async (...args: string[]) => {
    const r = await verify('--json', ...args);
    return { ...r, report: JSON.parse(r.stdout) as Record<string, any> };
  };
  /** SQL as the attacker runs it: write access to the tables, no KEK, no audit key. */
  const write = (sql: string, values: unknown[]): Promise<void> =>
    writeTables({ db, sqlitePath: join(broker.dir, 'data', 'creddy.db') }, sql, values);

  beforeAll(async () => {
    db = engine === 'postgres' ? await migratedDatabase() : undefined;
    broker = await startBroker({ extra: `${checkpointsEvery(1000)}\n${db ? `store: ${db.url}\n` : ''}` });
    await makeTraffic(broker, 6);
    await broker.services.auditCheckpoints.checkpointNow();
    realKid = (await broker.services.store.audit.signingKeys())[0]!.kid;
    kekId = broker.services.keks.current.id;
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it('an untouched log verifies, and says it rests on the keys the KEK opens', async () => {
    const r = await verify();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`checkpoints checked against the audit signing keys the KEK (id ${kekId}) opens: ${realKid}\n`);
    const json = await verifyJson();
    expect(json.report.checkpoints_trusted).toEqual({ anchor: 'kek', key_ids: [realKid], kek_id: kekId, untrusted_key_ids: [] });
  });

  it('a key row and a checkpoint it signs, added without the KEK, fail verification naming the key id', async () => {
    await makeTraffic(broker, 2);
    const head = (await broker.services.store.audit.head())!;
    const row = (await broker.services.store.audit.query({ afterSeq: head.seq - 1, limit: 1, order: 'asc' }))[0]!;
    await write('INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES (?, ?, ?, ?, ?)', [
      forged.kid,
      forged.x,
      sealedGarbage,
      kekId,
      // A second after now, so it is the newest key: the real one may have been made this second,
      // and keys made in one second are ordered by kid, at random.
      Math.floor(Date.now() / 1000) + 1,
    ]);
    const unsigned = { seq: row.seq, hash: row.hash, time: row.time, keyId: forged.kid };
    const key = createPrivateKey({ key: Buffer.from(forged.privateDer), format: 'der', type: 'pkcs8' });
    const signature = sign(null, checkpointSigningInput(unsigned), key).toString('base64url');
    await write('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?, ?, ?, ?, ?)', [
      row.seq,
      row.hash,
      row.time,
      forged.kid,
      signature,
    ]);

    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `ERR_AUDIT_INVALID: audit log FAILED verification at seq ${row.seq}: unknown-key: checkpoint at seq ${row.seq} is signed by audit signing key ${forged.kid}, which is a stored audit signing key whose private half the KEK (id ${kekId}) does not open`,
    );
    expect(r.stderr).toContain(
      `checkpoints checked against the audit signing keys the KEK (id ${kekId}) opens: ${realKid}; 1 stored key the KEK does not open, NOT trusted: ${forged.kid}`,
    );
    // Key ids only, never key material.
    for (const material of [sealedGarbage.toString('hex'), sealedGarbage.toString('base64'), forged.x]) {
      expect(r.stderr).not.toContain(material);
      expect(r.stdout).not.toContain(material);
    }
    const json = await verifyJson();
    expect(json.report).toMatchObject({
      ok: false,
      problem: { seq: row.seq, kind: 'unknown-key' },
      checkpoints_trusted: { anchor: 'kek', key_ids: [realKid], untrusted_key_ids: [forged.kid] },
    });
  });

  it('audit pubkey skips the added key; --pubkey still pins: the real key refuses the added checkpoint, the added key the real ones', async () => {
    const printed = await runCli(['audit', 'pubkey', '--config', broker.configPath], broker.env);
    // The newest stored key is the added one: skipped (named), not a stop for pubkey, export or checkpoints.
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stderr).toContain(`audit signing key ${forged.kid} does not open with the configured KEK; not used to sign`);
    const pem = printed.stdout;
    const pinned = join(broker.dir, 'audit.pem');
    writeFileSync(pinned, pem);
    const real = await verifyJson('--pubkey', pinned);
    expect(real.code).toBe(1);
    expect(real.report.problem.detail).toContain(`signed by unknown audit signing key ${forged.kid}`);
    expect(real.report.checkpoints_trusted).toEqual({ anchor: 'pinned', key_ids: [realKid], untrusted_key_ids: [] });

    const theirs = join(broker.dir, 'forged.jwk');
    writeFileSync(theirs, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: forged.x }));
    const pinnedForged = await verifyJson('--pubkey', theirs);
    expect(pinnedForged.code).toBe(1);
    expect(pinnedForged.report.problem.detail).toContain(`signed by unknown audit signing key ${realKid}`);
  });

  it('without a KEK the stored keys are used, and the output says nothing vouches for them', async () => {
    const { CREDDY_KEK: _, ...noKek } = broker.env;
    const r = await runCli(['audit', 'verify', '--config', broker.configPath], noKek);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `checkpoints checked against the audit signing keys stored in the database (${realKid}, ${forged.kid}), which nothing vouches for: no KEK is configured and no --public-key given`,
    );
  });
});
