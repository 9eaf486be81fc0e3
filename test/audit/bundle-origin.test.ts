import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/audit/bundle.js';
import { readTar, writeTar } from '../../src/audit/bundle-tar.js';
import { canonicalRow } from '../../src/audit/chain.js';
import { rowFromJson } from '../../src/audit/row-json.js';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { thumbprint } from '../../src/keys/jwk.js';
import type { AuditEntry } from '../../src/store/port.js';
import { runCli } from '../helpers/cli.js';
import { openServices, type TestServices } from '../helpers/harness.js';

const entry = (i: number, time: number): AuditEntry => ({
  event: {
    time,
    type: 'credential.issued',
    outcome: 'success',
    actor: 'ci-bot',
    agent: 'ci-bot',
    backend: 'demo',
    scopes: ['read'],
    jti: `jti-${i}`,
    kid: 'kid-1',
    reason: null,
    clientIp: '127.0.0.1',
    requestId: `req-${i}`,
    details: null,
  },
});

/**
 * What anyone can make from a real bundle without any key of creddy's: one row's agent changed,
 * the chain re-linked with plain SHA-256, the checkpoints dropped, the manifest re-signed by a
 * fresh key whose public half replaces the bundle's.
 */
function forge(tar: Buffer): Buffer {
  const files = readTar(tar);
  const rows = files[2]!.data
    .toString()
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  rows[3]!['agent'] = 'mallory';
  for (let i = 3; i < rows.length; i++) {
    if (i > 3) rows[i]!['prev_hash'] = rows[i - 1]!['hash'];
    const row = rowFromJson(rows[i]!);
    rows[i]!['hash'] = createHash('sha256').update(row.prevHash).update('\n').update(canonicalRow(row)).digest('hex');
  }
  const events = Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const checkpoints = Buffer.alloc(0);
  const other = generateKeyPairSync('ed25519');
  const pem = Buffer.from(other.publicKey.export({ format: 'pem', type: 'spki' }) as string);
  const x = other.publicKey.export({ format: 'jwk' }).x!;
  const manifest = JSON.parse(files[0]!.data.toString());
  manifest.signing_key = { kid: thumbprint(x), x };
  manifest.checkpoints = 0;
  const digest = (data: Buffer) => ({ sha256: sha256(data), bytes: data.length });
  manifest.files = { 'events.ndjson': digest(events), 'checkpoints.ndjson': digest(checkpoints), 'audit-signing-key.pem': digest(pem) };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  return writeTar([
    { name: 'manifest.json', data: manifestBytes },
    { name: 'manifest.sig', data: sign(null, manifestBytes, other.privateKey) },
    { name: 'events.ndjson', data: events },
    { name: 'checkpoints.ndjson', data: checkpoints },
    { name: 'audit-signing-key.pem', data: pem },
  ]);
}

describe('audit verify --bundle: "verified" only when the origin is established', () => {
  let ctx: TestServices;
  let genuine: string;
  let forged: string;
  let empty: string;
  let pubkey: string;
  let auditKey: NodeJS.ProcessEnv;

  beforeAll(async () => {
    ctx = await openServices({ extra: 'audit:\n  checkpoint_every: 4\n  checkpoint_interval: 1h' });
    const now = ctx.services.clock.now();
    for (let i = 0; i < 3; i++) {
      await ctx.services.store.audit.append(
        [0, 1, 2, 3].map((j) => entry(i * 4 + j, now - 60_000 + i)),
        ctx.services.auditSeal,
      );
      await ctx.services.auditCheckpoints.checkpointNow();
    }
    const config = ['--config', ctx.configPath];
    genuine = join(ctx.dir, 'genuine.tar');
    empty = join(ctx.dir, 'empty.tar');
    pubkey = join(ctx.dir, 'audit.pem');
    for (const args of [
      ['--out', genuine],
      ['--out', empty, '--since', '2999-01-01T00:00:00Z'],
    ]) {
      const out = await runCli(['audit', 'export', ...args, ...config], ctx.env);
      expect(out.code, out.stderr).toBe(0);
    }
    writeFileSync(pubkey, (await runCli(['audit', 'pubkey', ...config], ctx.env)).stdout);
    forged = join(ctx.dir, 'forged.tar');
    writeFileSync(forged, forge(readFileSync(genuine)));
    auditKey = { CREDDY_AUDIT_KEY: ctx.env['CREDDY_AUDIT_KEY'] };
  });
  afterAll(async () => ctx?.close());

  it('a forged bundle, checked with neither --public-key nor the audit key, exits 1 and says how to pin', async () => {
    const text = await runCli(['audit', 'verify', '--bundle', forged]);
    expect(text.code).toBe(1);
    expect(text.stdout).not.toMatch(/verified:/);
    expect(text.stderr).toMatch(/ERR_AUDIT_INVALID: bundle NOT verified, only self-consistent/);
    expect(text.stderr).toMatch(/--public-key FILE/);
    expect(text.stderr).toMatch(/creddy audit pubkey/);

    const json = await runCli(['audit', 'verify', '--bundle', forged, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      key: 'embedded',
      self_consistent: true,
      authenticated: false,
      chain: { hmac: 'not-checked', problem: null },
      error: expect.stringMatching(/only self-consistent/),
    });
  });

  it('the same forgery fails outright with the pinned key or the audit key', async () => {
    const pinned = await runCli(['audit', 'verify', '--bundle', forged, '--pubkey', pubkey, '--json']);
    expect(pinned.code).toBe(1);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ ok: false, self_consistent: false, key: 'pinned' });
    const hmac = await runCli(['audit', 'verify', '--bundle', forged, '--json'], auditKey);
    expect(hmac.code).toBe(1);
    expect(JSON.parse(hmac.stdout)).toMatchObject({ ok: false, self_consistent: false, chain: { problem: { seq: 4, kind: 'inserted' } } });
  });

  it('--unpinned accepts self-consistency alone and says plainly that it proves nothing about origin', async () => {
    const text = await runCli(['audit', 'verify', '--bundle', forged, '--unpinned']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^bundle self-consistent, origin NOT verified \(--unpinned\): \d+ events/);
    expect(text.stdout).toMatch(
      /anyone can make, so this proves nothing about who wrote it or whether it was altered; HMACs NOT checked \(no audit key\)\. Pin/,
    );
    const json = await runCli(['audit', 'verify', '--bundle', forged, '--unpinned', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, self_consistent: true, authenticated: false, error: null });
    // It is a weaker check, not a way around the real one.
    const both = await runCli(['audit', 'verify', '--bundle', forged, '--unpinned', '--pubkey', pubkey]);
    expect(both.code).toBe(2);
    const noBundle = await runCli(['audit', 'verify', '--unpinned', '--config', ctx.configPath], ctx.env);
    expect(noBundle.code).toBe(2);
  });

  it('a genuine bundle is verified by a pinned key or by the audit key, and by neither without them', async () => {
    const pinned = await runCli(['audit', 'verify', '--bundle', genuine, '--pubkey', pubkey]);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toMatch(/^bundle verified: \d+ events .*manifest signed by the pinned key; HMACs NOT checked/);
    const hmac = await runCli(['audit', 'verify', '--bundle', genuine, '--json'], auditKey);
    expect(hmac.code, hmac.stderr).toBe(0);
    expect(JSON.parse(hmac.stdout)).toMatchObject({ ok: true, authenticated: true, key: 'embedded', chain: { hmac: 'verified' } });
    const neither = await runCli(['audit', 'verify', '--bundle', genuine]);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toMatch(/bundle NOT verified/);
  });

  it('an empty range proves nothing by HMAC: the audit key alone does not verify it, the pin does', async () => {
    const hmac = await runCli(['audit', 'verify', '--bundle', empty, '--json'], auditKey);
    expect(hmac.code).toBe(1);
    expect(JSON.parse(hmac.stdout)).toMatchObject({ ok: false, self_consistent: true, authenticated: false });
    expect(hmac.stderr).toMatch(/no event whose HMAC the audit key could check/);
    const pinned = await runCli(['audit', 'verify', '--bundle', empty, '--pubkey', pubkey], auditKey);
    expect(pinned.code, pinned.stderr).toBe(0);
  });

  it('on a terminal, export and verify keep a progress line on stderr, erased at the end; off a terminal, none', async () => {
    const run = async (args: string[], isTTY: boolean) => {
      let now = 0;
      let stdout = '';
      let stderr = '';
      const code = await runCliInProcess(
        args,
        { stdout: { write: (t) => (stdout += String(t)) }, stderr: { write: (t) => (stderr += String(t)), isTTY }, env: ctx.env },
        // Each look at the clock is a quarter of a second later: long work, quickly.
        { clock: { now: () => (now += 250) } },
      );
      // Each redraw starts with a carriage return and erase-line, shown here as '|'.
      return { code, stdout, stderr: stderr.replaceAll('\r\u001B[K', '|') };
    };
    const verify = await run(['audit', 'verify', '--bundle', genuine, '--pubkey', pubkey], true);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).toMatch(/^\|verifying \d+ of 14 events \(\d+%\)\|verifying /);
    expect(verify.stderr).toMatch(/verifying 14 of 14 events \(100%\)\|$/);
    expect(verify.stdout).toMatch(/^bundle verified/);
    const out = join(ctx.dir, 'progress.tar');
    const exported = await run(['audit', 'export', '--out', out, '--config', ctx.configPath], true);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toMatch(/\|verifying \d+ of 14 events/);
    expect(exported.stderr).toMatch(/\|writing 14 of 14 events \(100%\)\|$/);
    expect(exported.stdout).toMatch(/^wrote /);
    const quiet = await run(['audit', 'verify', '--bundle', genuine, '--pubkey', pubkey], false);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
