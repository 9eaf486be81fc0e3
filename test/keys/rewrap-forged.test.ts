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
import { loadKeks } from '../../src/keys/kek.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/port.js';
import { runCli } from '../helpers/cli.js';
import { demoYaml, silentLogger, tempDir, testEnv } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { writeTables } from '../helpers/raw-sql.js';
import { attackerEd25519 } from '../verify/forge.js';

interface RewrapJson {
  rewrapped: number;
  already_current: number;
  skipped: Array<{ kid: string; state: string; kek_id: string; problem: string }>;
  total: number;
  kek_id: string;
}

describe.each(['sqlite', 'postgres'] as const)('keys rewrap skips a signing-key row no KEK opens (%s)', (engine) => {
  const tmp = tempDir();
  const configPath = join(tmp.dir, 'creddy.yaml');
  const dataDir = join(tmp.dir, 'data');
  const envA = testEnv();
  const kekB = randomBytes(32).toString('hex');
  const envB = { ...envA, CREDDY_KEK: kekB, CREDDY_KEK_PREVIOUS: envA['CREDDY_KEK'] };
  const idOf = (hex: string) => loadKeks({ env: { CREDDY_KEK: hex }, dataDir: tmp.dir, logger: silentLogger }).current.id;
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
