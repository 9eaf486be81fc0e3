import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointSigningInput } from '../../src/audit/checkpoint.js';
import { pruneAudit } from '../../src/audit/retention.js';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey } from '../../src/keys/jwk.js';
import { auditEvent } from '../../src/model/audit.js';
import { createServices } from '../../src/services.js';
import { runCli } from '../helpers/cli.js';
import { captureLogger, demoYaml, tempDir, testEnv } from '../helpers/harness.js';
import { attack } from './helpers.js';

const DAY = 86_400_000;

/** Opens services on `dir` with a settable clock, writes `n` events, checkpointing every `every`. */
async function writeEvents(dir: string, env: NodeJS.ProcessEnv, at: number, n: number, every: number): Promise<void> {
  const configPath = join(dir, 'creddy.yaml');
  const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
  const services = await createServices(config, { env, logger: captureLogger().logger, actor: 'cli', clock: { now: () => at } });
  for (let i = 0; i < n; i++) {
    await services.audit.write({
      event: auditEvent({ time: at + i, type: 'agent.created', outcome: 'success', actor: 'cli', agent: `a${i}` }),
    });
    if ((i + 1) % every === 0) await services.auditCheckpoints.checkpointNow();
  }
  await services.close();
}

function setup(extra: string): { dir: string; configPath: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const configPath = join(dir, 'creddy.yaml');
  writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data'), extra }));
  return { dir, configPath, cleanup };
}

describe('retention', () => {
  const { dir, configPath, cleanup } = setup('audit:\n  retention: 365d');
  afterAll(cleanup);

  it('prunes rows older than retention down to a signed checkpoint; the rest still verifies', async () => {
    const env = testEnv();
    await writeEvents(dir, env, Date.now() - 400 * DAY, 23, 5);
    await writeEvents(dir, env, Date.now() - DAY, 7, 100);
    const before = await runCli(['audit', 'list', '--json', '--limit', '1000', '--config', configPath], env);
    const old = (JSON.parse(before.stdout) as Array<{ seq: number; time: string }>).filter(
      (r) => Date.parse(r.time) < Date.now() - 365 * DAY,
    );
    expect(old.length).toBeGreaterThanOrEqual(23);

    const pruned = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    const { deleted, anchor_seq: anchor } = JSON.parse(pruned.stdout);
    // Checkpoints at 5, 10, …, 20 (old rows) and at the head before pruning: the last one at or
    // before the first row inside the window is the anchor.
    expect(anchor).toBeGreaterThan(20);
    expect(deleted).toBe(anchor - 1);

    const list = JSON.parse((await runCli(['audit', 'list', '--json', '--limit', '1000', '--config', configPath], env)).stdout) as Array<{
      seq: number;
      type: string;
    }>;
    expect(list.at(-1)!.seq).toBe(anchor);
    expect(list[0]!.type).toBe('audit.pruned');

    const verify = await runCli(['audit', 'verify', '--json', '--config', configPath], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, first_seq: anchor, problem: null });
  });
});

describe('audit key change', () => {
  const { dir, configPath, cleanup } = setup('');
  afterAll(cleanup);

  it('rows keep verifying under the key that sealed them (CREDDY_AUDIT_KEY_PREVIOUS)', async () => {
    const env = testEnv();
    const oldKey = env['CREDDY_AUDIT_KEY']!;
    await writeEvents(dir, env, Date.now(), 4, 2);
    const newKey = randomBytes(32).toString('hex');
    await writeEvents(dir, { ...env, CREDDY_AUDIT_KEY: newKey }, Date.now(), 4, 2);

    const both = await runCli(['audit', 'verify', '--json', '--config', configPath], {
      ...env,
      CREDDY_AUDIT_KEY: newKey,
      CREDDY_AUDIT_KEY_PREVIOUS: oldKey,
    });
    expect(both.code, both.stderr).toBe(0);
    const rows = JSON.parse((await runCli(['audit', 'list', '--json', '--config', configPath], env)).stdout) as Array<{ key_id: string }>;
    expect(new Set(rows.map((r) => r.key_id)).size).toBe(2);

    const onlyNew = await runCli(['audit', 'verify', '--json', '--config', configPath], { ...env, CREDDY_AUDIT_KEY: newKey });
    expect(onlyNew.code).toBe(1);
    expect(JSON.parse(onlyNew.stdout).problem).toMatchObject({ seq: 1, kind: 'unknown-key' });
  });
});

describe('retention anchors', () => {
  const { dir, configPath, cleanup } = setup('audit:\n  retention: 365d');
  afterAll(cleanup);

  it('a checkpoint signed by a signing key someone inserted without the KEK anchors no prune', async () => {
    const env = testEnv();
    let now = Date.now() - 400 * DAY;
    const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
    const services = await createServices(config, { env, logger: captureLogger().logger, actor: 'cli', clock: { now: () => now } });
    try {
      const write = async (n: number) => {
        for (let i = 0; i < n; i++) {
          now += 1;
          await services.audit.write({
            event: auditEvent({ time: now, type: 'agent.created', outcome: 'success', actor: 'cli', agent: `a${now}` }),
          });
        }
      };
      await write(10);
      const real = (await services.auditCheckpoints.checkpointNow())!.seq; // the real key, a real anchor
      await write(5);
      // Whoever can write the store but not open the KEK adds a key of their own (its "sealed"
      // private half is garbage) and a checkpoint it signs four rows on, an anchor to cut more history.
      const forged = generateSigningKey();
      const db = new Database(join(dir, 'data', 'creddy.db'));
      try {
        db.prepare('INSERT INTO audit_signing_keys (kid, public_x, sealed_private, kek_id, created_at) VALUES (?, ?, ?, ?, 0)').run(
          forged.kid,
          forged.x,
          randomBytes(64),
          'none',
        );
        const row = db
          .prepare<[number], { hash: string; time: number }>('SELECT hash, time FROM audit_events WHERE seq = ?')
          .get(real + 4)!;
        const unsigned = { seq: real + 4, hash: row.hash, time: row.time, keyId: forged.kid };
        const key = createPrivateKey({ key: Buffer.from(forged.privateDer), format: 'der', type: 'pkcs8' });
        const signature = sign(null, checkpointSigningInput(unsigned), key).toString('base64url');
        db.prepare('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?, ?, ?, ?, ?)').run(
          real + 4,
          row.hash,
          row.time,
          forged.kid,
          signature,
        );
      } finally {
        db.close();
      }
      now = Date.now();
      await write(3);
      const result = await pruneAudit(
        { store: services.store, keks: services.keks, seal: services.auditSeal, now: () => now, actor: 'cli' },
        365 * 86_400,
      );
      // The real checkpoint anchors the prune; the forged one would have cut four rows more.
      expect(result).toMatchObject({ anchorSeq: real, deleted: real - 1 });
    } finally {
      await services.close();
    }
  });
});

describe('a prune that deletes nothing says why', () => {
  it('no event older than the retention, or old events with no signed checkpoint after them to cut at', async () => {
    const { dir, configPath, cleanup } = setup('audit:\n  retention: 365d\n  checkpoint_every: 1000');
    try {
      const env = testEnv();
      const prune = async () => {
        const r = await runCli(['audit', 'prune', '--config', configPath], env);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      await writeEvents(dir, env, Date.now() - DAY, 3, 1000);
      expect(await prune()).toBe('pruned 0 events: no event is older than audit.retention (365d)\n');
      const json = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
      expect(JSON.parse(json.stdout)).toEqual({ deleted: 0, anchor_seq: null, steps: 0, idle: { reason: 'within-retention' } });
    } finally {
      cleanup();
    }
    const other = setup('audit:\n  retention: 365d\n  checkpoint_every: 1000');
    try {
      const env = testEnv();
      // Old events, then young ones in the same session: the first checkpoint after the old ones
      // (at shutdown) comes after young ones too, so none marks where the old ones end.
      const config = parseConfig(readFileSync(other.configPath, 'utf8'), other.configPath, env);
      const old = Date.now() - 400 * DAY;
      const services = await createServices(config, { env, logger: captureLogger().logger, actor: 'cli', clock: { now: () => old } });
      try {
        for (const [i, time] of [old, old + 1, old + 2, Date.now(), Date.now() + 1].entries()) {
          await services.audit.write({
            event: auditEvent({ time, type: 'agent.created', outcome: 'success', actor: 'cli', agent: `a${i}` }),
          });
        }
      } finally {
        await services.close();
      }
      const rows = JSON.parse(
        (await runCli(['audit', 'list', '--json', '--limit', '1000', '--config', other.configPath], env)).stdout,
      ) as Array<{
        time: string;
      }>;
      const older = rows.filter((r) => Date.parse(r.time) < Date.now() - 365 * DAY).length;
      expect(older).toBeGreaterThanOrEqual(3);
      const r = await runCli(['audit', 'prune', '--config', other.configPath], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        `pruned 0 events: ${older} events are older than audit.retention (365d), but the log is cut only at a signed checkpoint and none lies between them and the younger events; a later prune removes them once a checkpoint after them is older than the retention too\n`,
      );
      const json = await runCli(['audit', 'prune', '--json', '--config', other.configPath], env);
      expect(JSON.parse(json.stdout)).toEqual({ deleted: 0, anchor_seq: null, steps: 0, idle: { reason: 'no-anchor', older } });
    } finally {
      other.cleanup();
    }
  });

  it('an existing store whose log was emptied: prune fails loudly, names the tampering and points at verify and the witness', async () => {
    // Every command that opens a store writes the signing keys' key.created rows, so an empty log
    // under an existing store is one whose rows were removed behind creddy's back (triggers dropped).
    const { dir, configPath, cleanup } = setup('audit:\n  retention: 365d');
    try {
      const env = testEnv();
      await writeEvents(dir, env, Date.now() - 400 * DAY, 3, 1);
      attack(join(dir, 'data', 'creddy.db'), (db) => db.exec('DELETE FROM audit_checkpoints; DELETE FROM audit_events'));
      const text = await runCli(['audit', 'prune', '--config', configPath], env);
      expect(text.code).toBe(1);
      expect(text.stdout).toBe('');
      expect(text.stderr).toContain('creddy: ERR_AUDIT_INVALID: the audit log is empty, but this store holds 2 signing key(s)');
      expect(text.stderr).toContain('the log of an existing store is never empty, so its rows were deleted');
      expect(text.stderr).toContain('nothing was pruned');
      expect(text.stderr).toContain('creddy audit verify');
      expect(text.stderr).toContain('docs/audit.md "Witnesses: checkpoints outside the database"');
      expect(text.stderr).not.toContain('the audit log is empty\n');
      const json = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
      expect(json.code).toBe(1);
      expect(json.stdout + json.stderr).toContain('"code":"ERR_AUDIT_INVALID"');
      expect(json.stdout + json.stderr).toContain('"reason":"emptied"');
      expect(json.stdout + json.stderr).not.toContain('"idle"');
      // audit verify agrees: the same store fails verification.
      const verify = await runCli(['audit', 'verify', '--config', configPath], env);
      expect(verify.code).toBe(1);
      expect(verify.stderr).toContain('the log is empty but the database holds 2 signing key(s)');
    } finally {
      cleanup();
    }
  });
});
