import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealer } from '../../src/audit/chain.js';
import { loadAuditKey } from '../../src/audit/key.js';
import { parseConfig } from '../../src/config/load.js';
import { loadKeks, open, revocationHandleAad, seal } from '../../src/keys/kek.js';
import { auditEvent } from '../../src/model/audit.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/port.js';
import { runCli, runCrashCli } from '../helpers/cli.js';
import { demoYaml, silentLogger, tempDir, testEnv } from '../helpers/harness.js';

/** KEK rotation: `creddy keys rewrap` with CREDDY_KEK_PREVIOUS, interrupted and resumed; wrong KEKs. */
const HANDLE_JTI = 'handle-jti-0001';

describe('keys rewrap and wrong KEKs', () => {
  const tmp = tempDir();
  const configPath = join(tmp.dir, 'creddy.yaml');
  const envA = testEnv();
  const kekB = randomBytes(32).toString('hex');
  const envB = { ...envA, CREDDY_KEK: kekB, CREDDY_KEK_PREVIOUS: envA['CREDDY_KEK'] };
  const envOnlyB = { ...envA, CREDDY_KEK: kekB };
  const idOf = (hex: string) => loadKeks({ env: { CREDDY_KEK: hex }, dataDir: tmp.dir, logger: silentLogger }).current.id;
  const op = (args: string[], env: NodeJS.ProcessEnv) => runCli([...args, '--config', configPath], env);
  let store: Store;

  beforeAll(async () => {
    writeFileSync(configPath, demoYaml({ dataDir: join(tmp.dir, 'data') }));
    for (let i = 0; i < 3; i++) expect((await op(['keys', 'rotate', '--force'], envA)).code).toBe(0);
    // Creates the audit checkpoint signing key, sealed under the old KEK too.
    expect((await op(['audit', 'pubkey'], envA)).code).toBe(0);
    store = await openStore(parseConfig(demoYaml({ dataDir: join(tmp.dir, 'data') }), configPath, envA).store);
    const retired = (await store.keys.list()).find((k) => k.state === 'retired')!;
    const revoked = await op(['keys', 'revoke', retired.kid], envA);
    expect(revoked.code, revoked.stderr).toBe(0);
    // A live GitHub-style credential whose revocation handle is sealed under the old KEK.
    const kekA = loadKeks({ env: envA, dataDir: tmp.dir, logger: silentLogger }).current;
    const auditKey = loadAuditKey({ env: envA, dataDir: tmp.dir, logger: silentLogger });
    await store.audit.append(
      [
        {
          credential: {
            jti: HANDLE_JTI,
            agent: 'bot',
            backend: 'gh',
            scopes: ['contents:read'],
            kid: retired.kid,
            issuedAt: 1,
            expiresAt: 4_000_000_000,
            revokedAt: null,
            metadata: null,
            downstream: { type: 'github_installation_token', revocation: 'immediate', expiresAt: null, fingerprint: null },
            revocationHandle: seal(kekA, Buffer.from('ghs_handle'), revocationHandleAad(HANDLE_JTI)),
            downstreamRevokedAt: null,
          },
          event: auditEvent({
            time: Date.now(),
            type: 'credential.issued',
            outcome: 'success',
            actor: 'bot',
            agent: 'bot',
            jti: HANDLE_JTI,
          }),
        },
      ],
      createSealer(auditKey),
    );
  });
  afterAll(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('an interrupted rewrap leaves every row usable; a re-run finishes; then the old KEK is not needed', async () => {
    const crashed = await runCrashCli(['keys', 'rewrap', '--config', configPath], envB, { crashAt: 'rewrap:row-2' });
    expect(crashed.code).toBeNull(); // SIGKILL
    expect(crashed.stderr).toContain('rewrapped 2/5');
    const ids = (await store.keys.list()).map((k) => k.kekId);
    expect(ids.filter((id) => id === idOf(kekB))).toHaveLength(2);
    expect(ids.filter((id) => id === idOf(envA['CREDDY_KEK']!))).toHaveLength(3);

    // Half-way: the current key is still sealed by the old KEK and keeps signing; rotation works.
    expect((await op(['keys', 'list', '--json'], envB)).code).toBe(0);
    const rotated = await op(['keys', 'rotate', '--force', '--json'], envB);
    expect(rotated.code, rotated.stderr).toBe(0);

    const finished = await op(['keys', 'rewrap', '--json'], envB);
    expect(finished.code, finished.stderr).toBe(0);
    const summary = JSON.parse(finished.stdout) as { audit_signing_keys_rewrapped: number };
    expect(summary).toEqual({
      rewrapped: 3,
      already_current: 3,
      skipped: [],
      total: 6,
      kek_id: idOf(kekB),
      audit_signing_keys_rewrapped: summary.audit_signing_keys_rewrapped,
      audit_signing_keys_skipped: [],
      revocation_handles_rewrapped: 1,
      revocation_handles_skipped: [],
      secret_values_rewrapped: 0,
      secret_values_already_current: 0,
      secret_values_skipped: [],
    });
    // The live token's revocation handle now opens with the new KEK alone.
    const handle = (await store.credentials.get(HANDLE_JTI))!.revocationHandle!;
    const kekOnlyB = loadKeks({ env: envOnlyB, dataDir: tmp.dir, logger: silentLogger }).current;
    expect(open(kekOnlyB, handle, revocationHandleAad(HANDLE_JTI)).toString()).toBe('ghs_handle');
    // The checkpoint signing key moves to the new KEK with the signing keys.
    expect(new Set((await store.audit.signingKeys()).map((k) => k.kekId))).toEqual(new Set([idOf(kekB)]));
    expect(new Set((await store.keys.list()).map((k) => k.kekId))).toEqual(new Set([idOf(kekB)]));
    const again = await op(['keys', 'rewrap', '--json'], envB);
    expect(JSON.parse(again.stdout)).toMatchObject({
      rewrapped: 0,
      already_current: 6,
      audit_signing_keys_rewrapped: 0,
      revocation_handles_rewrapped: 0,
    });

    // The text output names the step the rewrap cannot do: brokers must get the new KEK.
    const text = await op(['keys', 'rewrap'], envB);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /^next: every running broker must have this KEK \(CREDDY_KEK\) before it next starts — one started with the old KEK alone fails with ERR_KEK_INVALID; restart/m,
    );

    const listed = await op(['keys', 'list', '--json'], envOnlyB);
    expect(listed.code, listed.stderr).toBe(0);
    expect((await op(['keys', 'rotate', '--force'], envOnlyB)).code).toBe(0);
    const audited = await store.audit.query({ type: 'key.rewrapped', limit: 20 });
    expect(audited).toHaveLength(5);
    expect(audited.every((row) => row.actor === 'cli' && (row.details as { to_kek: string }).to_kek === idOf(kekB))).toBe(true);
  });

  it.each([
    ['the old KEK after a rewrap', () => ({ ...envA })],
    ['an unrelated KEK', () => ({ ...envA, CREDDY_KEK: randomBytes(32).toString('hex') })],
  ])('starting with %s fails with ERR_KEK_INVALID naming the problem', async (_name, env) => {
    for (const args of [['keys', 'list'], ['server'], ['keys', 'rewrap']]) {
      const result = await op(args, env());
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /ERR_KEK_INVALID: wrong KEK: signing key \S+ is sealed by KEK id [0-9a-f]+, but the configured KEK id is/,
      );
      expect(result.stderr).not.toContain(kekB);
    }
  });

  it('an altered sealed key is refused, never used to sign', async () => {
    const current = (await store.keys.list()).find((k) => k.state === 'current')!;
    const altered = Buffer.from(current.sealedPrivate);
    altered[altered.length - 1]! ^= 1;
    // An attacker's edit: no audit row.
    const unaudited = { events: [], seal: createSealer(loadAuditKey({ env: envA, dataDir: tmp.dir, logger: silentLogger })) };
    expect(
      await store.keys.apply([{ op: 'update', kid: current.kid, expect: 'current', set: { sealedPrivate: altered } }], unaudited),
    ).toBe(true);
    // A server has nothing to sign with, and says why.
    const server = await op(['server', '--listen', '127.0.0.1:0'], envOnlyB);
    expect(server.code).toBe(1);
    expect(server.stderr).toContain(
      `ERR_KEK_INVALID: no usable signing key: the current key ${current.kid} does not open with the configured KEK (signing key ${current.kid} does not decrypt`,
    );
    // An operator command still runs (the KEK opens the other keys), so the key can be revoked;
    // the altered key is named and listed as unpublished.
    const result = await op(['keys', 'list', '--json'], envOnlyB);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`signing key ${current.kid} does not open with the configured KEK`);
    expect((JSON.parse(result.stdout) as Array<{ kid: string; published: boolean }>).find((k) => k.kid === current.kid)).toMatchObject({
      published: false,
    });
  });
});
