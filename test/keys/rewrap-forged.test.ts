/**
 * `creddy keys rewrap` during a KEK rotation, with a signing-key row someone who can write the
 * store but has no KEK added (garbage "sealed" private half): rewrap re-seals every other row,
 * names the row it cannot open (text and --json, kids and KEK ids only), exits non-zero so a
 * script notices, and says how to get rid of it; once revoked, the row no longer fails a rewrap.
 * Both stores.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { thumbprint } from '../../src/keys/jwk.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/port.js';
import { runCli } from '../helpers/cli.js';
import { demoYaml } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { writeTables } from '../helpers/raw-sql.js';
import { DEMO_BACKEND } from '../helpers/setup.js';
import { attackerEd25519 } from '../verify/forge.js';
import { kekRotation } from './kek-rotation.js';

interface RewrapJson {
  rewrapped: number;
  already_current: number;
  skipped: Array<{ kid: string; state: string; kek_id: string; problem: string }>;
  total: number;
  kek_id: string;
}

describe.each(['sqlite', 'postgres'] as const)('keys rewrap skips a signing-key row no KEK opens (%s)', (engine) => {
  const { tmp, configPath, dataDir, envA, kekB, envB, keksOf } = kekRotation();
  const idOf = (hex: string) => keksOf(hex).current.id;
  const garbage = randomBytes(61);
  const attacker = attackerEd25519();
  const forgedKid = thumbprint(attacker.x);
  const op = (args: string[], env: NodeJS.ProcessEnv) => runCli([...args, '--config', configPath], env);
  let db: FreshDatabase | undefined;
  let store: Store;

  /** SQL as the attacker runs it: write access to the tables, no KEK. */
  const write = (sql: string, values: unknown[]): Promise<void> => writeTables({ db, sqlitePath: join(dataDir, 'creddy.db') }, sql, values);

  beforeAll(async () => {
    db = engine === 'postgres' ? await migratedDatabase() : undefined;
    const yaml = demoYaml({ dataDir, ...(db ? { extra: `store: ${db.url}` } : {}) });
    writeFileSync(configPath, yaml);
    for (let i = 0; i < 2; i++) expect((await op(['keys', 'rotate', '--force'], envA)).code).toBe(0);
    store = await openStore(parseConfig(yaml, configPath, envA).store);
    const now = Math.floor(Date.now() / 1000);
    // Sealed, it claims, by the old KEK: rewrap has to open it to move it.
    await write(
      `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [forgedKid, 'retired', attacker.x, garbage, idOf(envA['CREDDY_KEK']!), now - 60, now - 60, now - 60, now + 86_400],
    );
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    tmp.cleanup();
  });

  it('rewraps every other row, names the forged one, exits 1 and says how to remove it', async () => {
    const realKids = (await store.keys.list()).filter((k) => k.kid !== forgedKid).map((k) => k.kid);
    const r = await op(['keys', 'rewrap', '--json'], envB);
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout) as RewrapJson;
    expect(summary).toMatchObject({ rewrapped: realKids.length, already_current: 0, total: realKids.length + 1, kek_id: idOf(kekB) });
    expect(summary.skipped).toEqual([
      {
        kid: forgedKid,
        state: 'retired',
        kek_id: idOf(envA['CREDDY_KEK']!),
        problem: expect.stringContaining(`signing key ${forgedKid} does not decrypt under KEK`),
      },
    ]);
    expect(r.stderr).toContain(`creddy: skipped ${forgedKid} (retired): signing key ${forgedKid} does not decrypt`);
    expect(r.stderr).toContain(
      `1 signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${forgedKid} (retired)`,
    );
    expect(r.stderr).toContain('revoke it with `creddy keys revoke KID`');
    // Every real row moved; the forged one is left exactly as it was.
    const rows = await store.keys.list();
    for (const kid of realKids) expect(rows.find((k) => k.kid === kid)?.kekId).toBe(idOf(kekB));
    const forged = rows.find((k) => k.kid === forgedKid)!;
    expect(forged.kekId).toBe(idOf(envA['CREDDY_KEK']!));
    expect(Buffer.from(forged.sealedPrivate).equals(garbage)).toBe(true);
    // Kids and KEK ids only, never key material.
    for (const material of [garbage.toString('hex'), garbage.toString('base64'), kekB, envA['CREDDY_KEK']!]) {
      expect(r.stdout + r.stderr).not.toContain(material);
    }

    const text = await op(['keys', 'rewrap'], envB);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`rewrapped 0 of ${realKids.length + 1} signing keys (1 skipped: no configured KEK opens them)`);
    expect(text.stderr).toContain(`creddy: skipped ${forgedKid} (retired)`);
    expect(text.stderr).toContain('ERR_KEK_INVALID: 1 signing key row(s) not rewrapped');
  });

  it('once the row is revoked, a rewrap still names it but succeeds', async () => {
    const revoked = await op(['keys', 'revoke', forgedKid], envB);
    expect(revoked.code, revoked.stderr).toBe(0);
    const r = await op(['keys', 'rewrap', '--json'], envB);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as RewrapJson;
    expect(summary.rewrapped).toBe(0);
    expect(summary.skipped).toMatchObject([{ kid: forgedKid, state: 'revoked' }]);
    expect(r.stderr).toContain(`creddy: skipped ${forgedKid} (revoked)`);
  });
});

/**
 * The same for the audit checkpoint signing keys, and for rows that claim the current KEK: a
 * forged audit signing-key row (claiming the previous KEK or the current one) is skipped and named
 * while rewrap goes on to the revocation handles and secrets after it, and a forged signing-key row
 * claiming the current KEK is opened, not counted as already current.
 */
describe.each(['sqlite', 'postgres'] as const)(
  'keys rewrap skips audit signing-key rows and rows claiming the current KEK (%s)',
  (engine) => {
    const { tmp, configPath, dataDir, envA, kekB, envB, envOnlyB, idA, idB } = kekRotation();
    const garbage = randomBytes(61);
    const [auditClaimsA, auditClaimsB] = [attackerEd25519(), attackerEd25519()];
    const op = (args: string[], env: NodeJS.ProcessEnv, stdin?: string) => runCli([...args, '--config', configPath], env, stdin);
    let db: FreshDatabase | undefined;
    let store: Store;
    let realAuditKid: string;
    const write = (sql: string, values: unknown[]): Promise<void> =>
      writeTables({ db, sqlitePath: join(dataDir, 'creddy.db') }, sql, values);

    beforeAll(async () => {
      db = engine === 'postgres' ? await migratedDatabase() : undefined;
      const vault = `${DEMO_BACKEND}\n  vault:\n    type: secret\n    allowed_scopes: ["app/*"]`;
      const yaml = demoYaml({ dataDir, backendsYaml: vault, ...(db ? { extra: `store: ${db.url}` } : {}) });
      writeFileSync(configPath, yaml);
      for (let i = 0; i < 2; i++) expect((await op(['keys', 'rotate', '--force'], envA)).code).toBe(0);
      expect((await op(['audit', 'pubkey'], envA)).code).toBe(0); // the real audit signing key, under KEK A
      const put = await op(['secret', 'put', 'app/db'], envA, 'v1');
      expect(put.code, put.stderr).toBe(0);
      store = await openStore(parseConfig(yaml, configPath, envA).store);
      realAuditKid = (await store.audit.signingKeys())[0]!.kid;
      const now = Math.floor(Date.now() / 1000);
      const attacker = attackerEd25519();
      // A token signing-key row that claims the new KEK sealed it: "already current", if believed.
      await write(
        `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [thumbprint(attacker.x), 'retired', attacker.x, garbage, idB, now - 60, now - 60, now - 60, now + 86_400],
      );
      for (const [key, kekId] of [
        [auditClaimsA, idA],
        [auditClaimsB, idB],
      ] as const) {
        await write('INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES (?, ?, ?, ?, ?)', [
          thumbprint(key.x),
          key.x,
          garbage,
          kekId,
          now - 60,
        ]);
      }
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
      tmp.cleanup();
    });

    it('rewraps the real rows, secrets included, names every forged one and exits 1', async () => {
      const forgedKid = (await store.keys.list()).find((k) => k.kekId === idB)!.kid;
      const realKids = (await store.keys.list()).filter((k) => k.kid !== forgedKid).map((k) => k.kid);
      const r = await op(['keys', 'rewrap', '--json'], envB);
      expect(r.code).toBe(1);
      const summary = JSON.parse(r.stdout) as RewrapJson & Record<string, unknown>;
      expect(summary).toMatchObject({
        rewrapped: realKids.length,
        already_current: 0,
        total: realKids.length + 1,
        audit_signing_keys_rewrapped: 1,
        revocation_handles_rewrapped: 0,
        // Past the audit signing keys: the stored secret moved too.
        secret_values_rewrapped: 1,
      });
      expect(summary.skipped).toEqual([
        {
          kid: forgedKid,
          state: 'retired',
          kek_id: idB,
          problem: expect.stringContaining(`signing key ${forgedKid} does not decrypt under KEK ${idB}`),
        },
      ]);
      const auditSkipped = summary['audit_signing_keys_skipped'] as Array<{ kid: string; kek_id: string; problem: string }>;
      expect([...auditSkipped].sort((a, b) => a.kek_id.localeCompare(b.kek_id))).toEqual(
        [
          { kid: thumbprint(auditClaimsA.x), kek_id: idA, problem: expect.stringContaining('does not open under the configured KEK') },
          { kid: thumbprint(auditClaimsB.x), kek_id: idB, problem: expect.stringContaining('does not open under the configured KEK') },
        ].sort((a, b) => a.kek_id.localeCompare(b.kek_id)),
      );
      for (const { kid } of auditSkipped)
        expect(r.stderr).toContain(`creddy: skipped audit signing key ${kid}: audit signing key ${kid} does not open`);
      expect(r.stderr).toContain(`creddy: skipped ${forgedKid} (retired): signing key ${forgedKid} does not decrypt`);
      expect(r.stderr).toContain(
        `1 signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${forgedKid} (retired)`,
      );
      expect(r.stderr).toContain('2 audit signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS');
      expect(r.stderr).toContain('audit signing keys are never deleted');
      for (const material of [garbage.toString('hex'), garbage.toString('base64'), kekB, envA['CREDDY_KEK']!]) {
        expect(r.stdout + r.stderr).not.toContain(material);
      }

      // The real audit key and the secret now open with the new KEK alone; the forged rows are as they were.
      const auditKeys = await store.audit.signingKeys();
      expect(auditKeys.find((k) => k.kid === realAuditKid)?.kekId).toBe(idB);
      for (const k of auditKeys.filter((k) => k.kid !== realAuditKid)) expect(Buffer.from(k.sealedPrivate).equals(garbage)).toBe(true);
      const pubkey = await op(['audit', 'pubkey', '--json'], envOnlyB);
      expect(pubkey.code, pubkey.stderr).toBe(0);
      expect(JSON.parse(pubkey.stdout)).toMatchObject({ kid: realAuditKid });

      const again = await op(['keys', 'rewrap', '--json'], envB);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toMatchObject({ rewrapped: 0, already_current: realKids.length, audit_signing_keys_rewrapped: 0 });
    });

    it('revoking the forged signing key leaves the forged audit rows, which cannot be revoked: named as a warning, exit 0', async () => {
      const forgedKid = (await store.keys.list()).find((k) => Buffer.from(k.sealedPrivate).equals(garbage))!.kid;
      expect((await op(['keys', 'revoke', forgedKid], envB)).code).toBe(0);
      const text = await op(['keys', 'rewrap'], envB);
      // Nothing could ever clear them, so an exit 1 would stay for good.
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('0 audit signing key(s) (2 skipped: no configured KEK opens them)');
      expect(text.stderr).not.toContain(
        `signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${forgedKid}`,
      );
      expect(text.stderr).toContain('creddy: warning: 2 audit signing key row(s) not rewrapped');
      expect(text.stderr).not.toContain('ERR_KEK_INVALID');
    });
  },
);
