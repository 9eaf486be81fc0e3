import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, writeTar } from '../../src/audit/bundle-tar.js';
import { loadAuditKeys } from '../../src/audit/key.js';
import { parsePublicKey } from '../../src/audit/signing-key.js';
import { verifyBundle } from '../../src/audit/verify-bundle.js';
import { arrayPager, verifyChain } from '../../src/audit/verify-chain.js';
import { completionSpecs } from '../../src/cli/completion.js';
import { commandTree } from '../../src/cli/index.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { checkpointsEvery, makeTraffic } from './helpers.js';

describe('audit export bundle', () => {
  let broker: TestBroker;
  let bundle: string;
  let pubkey: string;
  let tar: Buffer;

  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(4) });
    await makeTraffic(broker, 16);
    await broker.services.auditCheckpoints.checkpointNow();
    bundle = join(broker.dir, 'audit.tar');
    pubkey = join(broker.dir, 'audit.pem');
    const out = await runCli(['audit', 'export', '--out', bundle, '--json', '--config', broker.configPath], broker.env);
    expect(out.code, out.stderr).toBe(0);
    const pem = await runCli(['audit', 'pubkey', '--config', broker.configPath], broker.env);
    writeFileSync(pubkey, pem.stdout);
    tar = readFileSync(bundle);
  });
  afterAll(async () => broker?.stop());

  it('round trip: written 0600 and verified offline with only the bundle and the public key', async () => {
    expect(statSync(bundle).mode & 0o777).toBe(0o600);
    const r = await runCli(['audit', 'verify', '--bundle', bundle, '--public-key', pubkey, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, key: 'pinned', chain: { hmac: 'not-checked', problem: null } });
    expect(report.chain.events_verified).toBe(report.manifest.events.count);
    expect(report.manifest.checkpoints).toBeGreaterThan(1);
    // Human output is honest about what was not checked.
    const text = await runCli(['audit', 'verify', '--bundle', bundle, '--public-key', pubkey]);
    expect(text.stdout).toMatch(/HMACs NOT checked/);
  });

  it('--public-key is spelled as for agents; --pubkey, its earlier name, still works, and help shows one name', async () => {
    const alias = await runCli(['audit', 'verify', '--bundle', bundle, '--pubkey', pubkey, '--json']);
    expect(alias.code, alias.stderr).toBe(0);
    expect(JSON.parse(alias.stdout)).toMatchObject({ ok: true, key: 'pinned' });
    const both = await runCli(['audit', 'verify', '--bundle', bundle, '--pubkey', pubkey, '--public-key', pubkey]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('ERR_USAGE: --public-key given twice');
    const bad = await runCli(['audit', 'verify', '--bundle', bundle, '--pubkey', bundle]);
    expect(bad.stderr).toContain(`ERR_USAGE: --public-key: ${bundle} is not an Ed25519 public key`);
    const help = await runCli(['audit', 'verify', '--help']);
    expect(help.stdout).toMatch(/^ {2}--public-key FILE +Trust only this audit signing public key .* \(also --pubkey\)$/m);
    expect(help.stdout).not.toMatch(/--pubkey,|--pubkey FILE/);
    // Completion offers the one name, and still skips the older one's value.
    const spec = completionSpecs(await commandTree()).find((s) => s.path === 'audit verify');
    expect(spec?.options).toContain('--public-key');
    expect(spec?.options).not.toContain('--pubkey');
    expect(spec?.valued).toEqual(expect.arrayContaining(['--public-key', '--pubkey']));
  });

  it('with the audit key, the HMACs are checked too; a JWK pin works as well', async () => {
    const jwk = join(broker.dir, 'audit.jwk');
    writeFileSync(jwk, (await runCli(['audit', 'pubkey', '--json', '--config', broker.configPath], broker.env)).stdout);
    const r = await runCli(['audit', 'verify', '--bundle', bundle, '--pubkey', jwk, '--json'], {
      CREDDY_AUDIT_KEY: broker.env['CREDDY_AUDIT_KEY'],
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).chain.hmac).toBe('verified');
  });

  it('--since limits the range; the open start still verifies', async () => {
    const part = join(broker.dir, 'part.tar');
    const future = await runCli(
      ['audit', 'export', '--out', part, '--since', '2999-01-01T00:00:00Z', '--json', '--config', broker.configPath],
      broker.env,
    );
    expect(JSON.parse(future.stdout).manifest.events.count).toBe(0);
    const r = await runCli(['audit', 'verify', '--bundle', part, '--pubkey', pubkey]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('any changed byte fails', async () => {
    const pinned = parsePublicKey(readFileSync(pubkey, 'utf8'));
    expect((await verifyBundle(tar, { pinned })).ok).toBe(true);
    // Every 61st byte across the whole file (headers, content, padding, trailer) plus the last one.
    const positions = [...Array.from({ length: Math.floor(tar.length / 61) }, (_, i) => i * 61), tar.length - 1];
    for (const at of positions) {
      const copy = Buffer.from(tar);
      copy[at] = copy[at]! ^ 0x01;
      expect((await verifyBundle(copy, { pinned })).ok, `byte ${at}`).toBe(false);
    }
    expect((await verifyBundle(Buffer.concat([tar, Buffer.alloc(512)]), { pinned })).ok).toBe(false);
    expect((await verifyBundle(tar.subarray(0, tar.length - 512), { pinned })).ok).toBe(false);
  });

  it('reordered lines fail, even when the attacker re-packs the tar', async () => {
    const files = readTar(tar);
    const events = files.find((f) => f.name === 'events.ndjson')!;
    const lines = events.data.toString().split('\n');
    [lines[2], lines[3]] = [lines[3]!, lines[2]!];
    const repacked = writeTar(files.map((f) => (f.name === 'events.ndjson' ? { name: f.name, data: Buffer.from(lines.join('\n')) } : f)));
    const report = await verifyBundle(repacked, { pinned: parsePublicKey(readFileSync(pubkey, 'utf8')) });
    expect(report.ok).toBe(false);
    expect(report.error).toMatch(/events.ndjson/);
  });

  it('a swapped key fails: wrong pin, or a bundle re-signed by another key', async () => {
    const other = generateKeyPairSync('ed25519');
    const otherPem = join(broker.dir, 'other.pem');
    writeFileSync(otherPem, other.publicKey.export({ format: 'pem', type: 'spki' }));
    const wrongPin = await runCli(['audit', 'verify', '--bundle', bundle, '--pubkey', otherPem]);
    expect(wrongPin.code).toBe(1);
    expect(wrongPin.stderr).toMatch(/ERR_AUDIT_INVALID/);

    // Attacker swaps in their key and re-signs the manifest: the pinned key rejects it, and even
    // unpinned the old checkpoints (signed by the real key) no longer verify.
    const { sign } = await import('node:crypto');
    const files = readTar(tar);
    const manifest = JSON.parse(files[0]!.data.toString());
    const x = other.publicKey.export({ format: 'jwk' }).x!;
    const { thumbprint } = await import('../../src/keys/jwk.js');
    manifest.signing_key = { kid: thumbprint(x), x };
    const pem = Buffer.from(other.publicKey.export({ format: 'pem', type: 'spki' }) as string);
    manifest.files['audit-signing-key.pem'] = { sha256: (await import('../../src/audit/bundle.js')).sha256(pem), bytes: pem.length };
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const forged = writeTar([
      { name: 'manifest.json', data: manifestBytes },
      { name: 'manifest.sig', data: sign(null, manifestBytes, other.privateKey) },
      files[2]!,
      files[3]!,
      { name: 'audit-signing-key.pem', data: pem },
    ]);
    expect((await verifyBundle(forged, { pinned: parsePublicKey(readFileSync(pubkey, 'utf8')) })).ok).toBe(false);
    const unpinned = await verifyBundle(forged, {});
    expect(unpinned.ok).toBe(false);
    expect(unpinned.chain?.problem?.kind).toBe('unknown-key');
  });

  it('an export range that starts mid-chain still checks the HMAC of its first row', async () => {
    const keys = loadAuditKeys({ env: { CREDDY_AUDIT_KEY: broker.env['CREDDY_AUDIT_KEY'] } });
    const rows = (await broker.services.store.audit.query({ order: 'asc', limit: 1000 })).slice(5);
    const open = { checkpoints: [], publicKeys: [], keys, start: 'open' as const };
    expect((await verifyChain({ ...open, page: arrayPager(rows) })).problem).toBeNull();
    const tampered = [{ ...rows[0]!, actor: 'mallory' }, ...rows.slice(1)];
    expect((await verifyChain({ ...open, page: arrayPager(tampered) })).problem).toMatchObject({ seq: rows[0]!.seq, kind: 'modified' });
  });

  it('in-process: with the audit key every row HMAC in the bundle is checked', async () => {
    const keys = loadAuditKeys({ env: { CREDDY_AUDIT_KEY: broker.env['CREDDY_AUDIT_KEY'] } });
    const report = await verifyBundle(tar, { keys });
    expect(report.chain?.hmac).toBe('verified');
    expect(report.ok).toBe(true);
  });
});
