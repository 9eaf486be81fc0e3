import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateFile } from '../../src/_utils/fs.js';
import { readTar, writeTar } from '../../src/audit/bundle-tar.js';
import { exportBundle } from '../../src/audit/export.js';
import { loadAuditKeys } from '../../src/audit/key.js';
import { loadAuditSigner } from '../../src/audit/signing-key.js';
import type { AuditEntry } from '../../src/store/port.js';
import { runBin, runCli } from '../helpers/cli.js';
import { openServices, type TestServices } from '../helpers/harness.js';
import { attack } from './helpers.js';

/**
 * Bundles are streamed: export and verify hold a page of rows, not the range. 20,000 events of
 * ≈ 600 bytes each (12 MB of NDJSON) need some 40-60 MB of heap to hold whole, which is what
 * export and verify did before (and what stopped them at ~945k events, V8's longest string);
 * streamed, both run in a 24 MB heap at any size (1,000,000 events in 16 MB: bench/README.md).
 */
const ROWS = 20_000;
const HEAP_MB = 24;

/** An issuance row the size of a real one with TTL details and metadata. */
function entry(i: number, time: number): AuditEntry {
  return {
    event: {
      time,
      type: i % 5 === 3 ? 'credential.denied' : 'credential.issued',
      outcome: i % 5 === 3 ? 'denied' : 'success',
      actor: `agent-${i % 200}`,
      agent: `agent-${i % 200}`,
      backend: `backend-${(i * 7) % 20}`,
      scopes: ['contents:read', 'issues:write'],
      jti: `jti-${i.toString(36).padStart(22, '0')}`,
      kid: 'kid-0123456789abcdefghijklmnopqrstuvwxyzABCDE',
      reason: i % 5 === 3 ? 'ERR_SCOPE_DENIED' : null,
      clientIp: '192.0.2.17',
      requestId: `req-${i.toString(16).padStart(24, '0')}`,
      details: { ttl: { requested: 900, granted: 900, clamped_by: null }, metadata: { task: `task number ${i}` } },
    },
  };
}

describe('audit export and verify --bundle stream a large log', () => {
  let ctx: TestServices;
  beforeAll(async () => {
    ctx = await openServices();
    const { store, auditSeal, auditCheckpoints, clock } = ctx.services;
    const start = clock.now() - ROWS * 1000;
    // The store's own append path, 10,000 rows a transaction; a signed checkpoint after each.
    for (let done = 0; done < ROWS; ) {
      const batch: AuditEntry[] = [];
      for (const end = Math.min(ROWS, done + 10_000); done < end; done++) batch.push(entry(done, start + done * 1000));
      await store.audit.append(batch, auditSeal);
      await auditCheckpoints.checkpointNow();
    }
  }, 60_000);
  afterAll(async () => ctx?.close());

  it(`exports ${ROWS} events and verifies them (HMACs too) in a ${HEAP_MB} MB heap, in creddy's own format`, async () => {
    const bundle = join(ctx.dir, 'big.tar');
    const pem = join(ctx.dir, 'audit.pem');
    writeFileSync(pem, (await runCli(['audit', 'pubkey', '--config', ctx.configPath], ctx.env)).stdout);
    // A real process with a capped heap: what holds the range whole runs out of memory.
    const env = { ...ctx.env, NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` };
    const exported = await runBin(['audit', 'export', '--out', bundle, '--json', '--config', ctx.configPath], env);
    expect(exported.code, exported.stderr.slice(0, 500)).toBe(0);
    expect(JSON.parse(exported.stdout).manifest).toMatchObject({ events: { count: ROWS + 2 }, checkpoints: 2 });
    const verified = await runBin(['audit', 'verify', '--bundle', bundle, '--pubkey', pem, '--json'], env);
    expect(verified.code, verified.stderr.slice(0, 500)).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({
      ok: true,
      chain: { events_verified: ROWS + 2, checkpoints: 2, hmac: 'verified', problem: null },
    });
    // Written a member at a time, it is byte for byte the canonical tar of those members (readers
    // of earlier versions read it), and lines cross the verifier's 1 MiB read chunks.
    const tar = readFileSync(bundle);
    expect(tar.length).toBeGreaterThan(10 << 20);
    expect(writeTar(readTar(tar)).equals(tar)).toBe(true);
  }, 30_000);
});

describe('audit export reads the log twice (verify and measure, then write)', () => {
  it('fails, and leaves no partial bundle, when the range changes between the passes', async () => {
    const ctx = await openServices();
    try {
      const { store, auditSeal, keks, clock, config } = ctx.services;
      await store.audit.append(
        Array.from({ length: 500 }, (_, i) => entry(i, clock.now() - 10_000 + i)),
        auditSeal,
      );
      const signer = await loadAuditSigner({ store, keks, now: () => clock.now() });
      const keys = loadAuditKeys({ env: ctx.env });
      const out = createPrivateFile(join(ctx.dir, 'changed.tar'));
      let edited = false;
      const exporting = exportBundle(
        { store, keys, signer, issuer: config.issuer, now: () => clock.now() },
        {
          out,
          // Once the first pass has verified the range, someone with file access edits a row in it.
          onProgress: (phase, rows, total) => {
            if (phase !== 'verifying' || rows !== total || edited) return;
            edited = true;
            attack(join(ctx.dir, 'data', 'creddy.db'), (db) => db.exec("UPDATE audit_events SET agent = 'mallory' WHERE seq = 100"));
          },
        },
      );
      await expect(exporting).rejects.toMatchObject({
        code: 'ERR_AUDIT_INVALID',
        message: 'refusing to export: the audit log changed while events.ndjson was written',
      });
      expect(edited).toBe(true);
      // Neither the bundle nor its temporary file is left.
      expect(readdirSync(ctx.dir).filter((name) => name.includes('changed.tar'))).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
