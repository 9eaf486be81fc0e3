/**
 * `creddy keys rewrap` during a KEK rotation, with revocation handles and stored secret values
 * that someone who can write the store but has no KEK added (garbage "sealed" bytes, one secret
 * claiming the previous KEK and one the current): rewrap re-seals every real handle and value
 * (those after the forged rows too), names each forged row (jti, path and version, KEK ids; never
 * content) on stderr and under --json, and exits 1 with the fix; once the rows are gone (secret
 * delete; the handle dropped when its downstream part is done), it succeeds. Both stores.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { open, revocationHandleAad, seal } from '../../src/keys/kek.js';
import { openSecretValue } from '../../src/secrets/seal.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/port.js';
import { runCli } from '../helpers/cli.js';
import { demoYaml } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { writeTables } from '../helpers/raw-sql.js';
import { DEMO_BACKEND } from '../helpers/setup.js';
import { kekRotation } from './kek-rotation.js';

interface RewrapJson {
  revocation_handles_rewrapped: number;
  revocation_handles_skipped: Array<{ jti: string; agent: string; backend: string; downstream_expires_at: string | null; problem: string }>;
  secret_values_rewrapped: number;
  secret_values_already_current: number;
  secret_values_skipped: Array<{ path: string; version: number; current: boolean; kek_id: string | null; problem: string }>;
}

describe.each(['sqlite', 'postgres'] as const)('keys rewrap skips revocation handles and secret values no KEK opens (%s)', (engine) => {
  const { tmp, configPath, dataDir, envA, kekB, envB, keksOf, idA, idB } = kekRotation();
  const garbage = randomBytes(61);
  // A real handle sealed by KEK A (a GitHub token issued before the rotation), sorted after the forged one.
  // The forged jti carries an escape sequence: whoever writes the row chooses it.
  const [forgedJti, realJti] = ['a-forged-\u001b[31mcredential', 'b-real-credential'];
  const shownJti = 'a-forged-\\x1b[31mcredential';
  const realHandle = `ghs_${randomBytes(12).toString('hex')}`;
  const realValue = `v1-${randomBytes(8).toString('hex')}`;
  const op = (args: string[], env: NodeJS.ProcessEnv, stdin?: string) => runCli([...args, '--config', configPath], env, stdin);
  let db: FreshDatabase | undefined;
  let store: Store;
  /** SQL as the attacker runs it: write access to the tables, no KEK. */
  const write = (sql: string, values: unknown[]): Promise<void> => writeTables({ db, sqlitePath: join(dataDir, 'creddy.db') }, sql, values);
  const insertCredential = (jti: string, handle: Uint8Array, now: number) =>
    write(
      `INSERT INTO credentials (jti, agent, backend, scopes, kid, issued_at, expires_at, downstream, revocation_handle)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        jti,
        'ci',
        'demo',
        '["repo:read"]',
        'kid',
        now - 60,
        now + 3600,
        JSON.stringify({
          type: 'github',
          revocation: 'immediate',
          expiresAt: new Date((now + 3600) * 1000).toISOString(),
          fingerprint: null,
        }),
        Buffer.from(handle),
      ],
    );
  const insertSecret = (path: string, kekId: string, now: number) =>
    write(
      `INSERT INTO secret_versions (id, path, version, sealed, kek_id, created_at, created_by, generated)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [`forged-${path}`, path, 1, garbage, kekId, now - 60, 'cli', 0],
    );

  beforeAll(async () => {
    db = engine === 'postgres' ? await migratedDatabase() : undefined;
    const vault = `${DEMO_BACKEND}\n  vault:\n    type: secret\n    allowed_scopes: ["app/*"]`;
    const yaml = demoYaml({ dataDir, backendsYaml: vault, ...(db ? { extra: `store: ${db.url}` } : {}) });
    writeFileSync(configPath, yaml);
    expect((await op(['keys', 'rotate', '--force'], envA)).code).toBe(0);
    const put = await op(['secret', 'put', 'app/z-real'], envA, realValue);
    expect(put.code, put.stderr).toBe(0);
    store = await openStore(parseConfig(yaml, configPath, envA).store);
    const now = Math.floor(Date.now() / 1000);
    await insertCredential(forgedJti, garbage, now);
    await insertCredential(realJti, seal(keksOf(envA['CREDDY_KEK']!).current, Buffer.from(realHandle), revocationHandleAad(realJti)), now);
    // Sorted before the real value: one claims the previous KEK, one the current ("already current", if believed).
    await insertSecret('app/a-claims-previous', idA, now);
    await insertSecret('app/b-claims-current', idB, now);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    tmp.cleanup();
  });

  it('rewraps every real handle and value, names each forged row, exits 1 and says how to clear them', async () => {
    const r = await op(['keys', 'rewrap', '--json'], envB);
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout) as RewrapJson;
    expect(summary).toMatchObject({ revocation_handles_rewrapped: 1, secret_values_rewrapped: 1, secret_values_already_current: 0 });
    expect(summary.revocation_handles_skipped).toEqual([
      {
        jti: forgedJti,
        agent: 'ci',
        backend: 'demo',
        downstream_expires_at: expect.any(String),
        problem: `revocation handle of credential ${forgedJti} does not decrypt under KEK ${idB} nor ${idA}: written without the KEK, altered, or sealed by a KEK not configured`,
      },
    ]);
    expect(summary.secret_values_skipped).toEqual([
      {
        path: 'app/a-claims-previous',
        version: 1,
        current: true,
        kek_id: idA,
        problem: expect.stringContaining(
          `secret value app/a-claims-previous version 1 (sealed, it claims, by KEK ${idA}) does not decrypt`,
        ),
      },
      {
        path: 'app/b-claims-current',
        version: 1,
        current: true,
        kek_id: idB,
        problem: expect.stringContaining(`secret value app/b-claims-current version 1 (sealed, it claims, by KEK ${idB}) does not decrypt`),
      },
    ]);
    expect(r.stderr).toContain(`creddy: skipped revocation handle of credential ${shownJti} (agent ci, backend demo): revocation handle`);
    expect(r.stderr).not.toContain('\u001b');
    expect(r.stderr).toContain('creddy: skipped secret value app/a-claims-previous version 1: secret value');
    expect(r.stderr).toContain('creddy: skipped secret value app/b-claims-current version 1: secret value');
    expect(r.stderr).toContain('"code":"ERR_KEK_INVALID"');
    expect(r.stderr).toContain(
      `1 revocation handle(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: credential(s) ${JSON.stringify(shownJti).slice(1, -1)} (backend demo)`,
    );
    expect(r.stderr).toContain(
      '2 secret value(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: app/a-claims-previous version 1, app/b-claims-current version 1',
    );
    expect(r.stderr).toContain('`creddy secret delete PATH`');
    expect(r.stderr).toContain('each stops counting once the credential and its downstream part have expired');
    // Names and KEK ids only, never content.
    for (const material of [garbage.toString('hex'), garbage.toString('base64'), kekB, envA['CREDDY_KEK']!, realHandle, realValue]) {
      expect(r.stdout + r.stderr).not.toContain(material);
    }

    // The real handle and value now open with the new KEK alone; the forged rows are as they were.
    const keksB = keksOf(kekB);
    const handles = new Map((await store.credentials.withRevocationHandles('', 10)).map((c) => [c.jti, c.revocationHandle!]));
    expect(open(keksB.current, handles.get(realJti)!, revocationHandleAad(realJti)).toString()).toBe(realHandle);
    expect(Buffer.from(handles.get(forgedJti)!).equals(garbage)).toBe(true);
    const values = new Map((await store.secrets.sealedAfter('', 10)).map((v) => [v.path, v]));
    const real = values.get('app/z-real')!;
    expect(real.kekId).toBe(idB);
    expect(openSecretValue(keksB, { ...real, sealed: real.sealed! })).toBe(realValue);
    for (const path of ['app/a-claims-previous', 'app/b-claims-current'])
      expect(Buffer.from(values.get(path)!.sealed!).equals(garbage)).toBe(true);

    const text = await op(['keys', 'rewrap'], envB);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('creddy: ERR_KEK_INVALID: 1 revocation handle(s) not rewrapped');
    expect(text.stdout).toContain(
      '0 revocation handle(s) (1 skipped: no configured KEK opens them) and 0 secret value(s) (2 skipped: no configured KEK opens them); all others are now sealed',
    );
    // Opened, not counted on the label: the real value, rewrapped, is the only current one.
    const again = JSON.parse((await op(['keys', 'rewrap', '--json'], envB)).stdout) as RewrapJson;
    expect(again).toMatchObject({ secret_values_rewrapped: 0, secret_values_already_current: 1 });
    expect(again.secret_values_skipped).toHaveLength(2);
  });

  it('deleting the forged secrets leaves the handle, which fails until its downstream part is done; then rewrap succeeds', async () => {
    for (const path of ['app/a-claims-previous', 'app/b-claims-current']) {
      const del = await op(['secret', 'delete', path], envB);
      expect(del.code, del.stderr).toBe(0);
    }
    const r = await op(['keys', 'rewrap', '--json'], envB);
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout) as RewrapJson;
    expect(summary.secret_values_skipped).toEqual([]);
    expect(summary.revocation_handles_skipped).toMatchObject([{ jti: forgedJti }]);
    expect(r.stderr).not.toContain('secret value(s) not rewrapped');

    // What the reaper does once the downstream part has expired (or is revoked): the handle goes.
    await store.credentials.markDownstreamRevoked(forgedJti, Math.floor(Date.now() / 1000));
    const done = await op(['keys', 'rewrap', '--json'], envB);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ revocation_handles_skipped: [], secret_values_skipped: [] });
  });

  it('a forged handle of a credential that has expired, downstream part too, is named but does not fail: nothing is left to revoke', async () => {
    // Issued two hours ago for one hour: the token and its downstream part are both spent. The
    // reaper cannot open the handle either, so it may never clear it; an exit 1 would stay for good.
    const spentJti = 'c-forged-spent';
    await insertCredential(spentJti, garbage, Math.floor(Date.now() / 1000) - 7200);
    const r = await op(['keys', 'rewrap', '--json'], envB);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RewrapJson).revocation_handles_skipped).toMatchObject([{ jti: spentJti }]);
    expect(r.stderr).toContain('creddy: warning: 1 revocation handle(s) of expired credentials not rewrapped');
    expect(r.stderr).toContain('nothing left to revoke');
  });
});
