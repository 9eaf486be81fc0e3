import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalRow } from '../../src/audit/chain.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { attack, checkpointsEvery, copyDatabase, makeTraffic } from './helpers.js';

interface Row {
  seq: number;
  hash: string;
  prev_hash: string;
}

/** Runs `creddy audit verify --json` on a copy; returns exit code and the report. */
async function verifyCopy(broker: TestBroker, config: string, env: NodeJS.ProcessEnv = broker.env) {
  const r = await runCli(['audit', 'verify', '--json', '--config', config], env);
  return {
    code: r.code,
    report: JSON.parse(r.stdout) as {
      ok: boolean;
      hmac: string;
      events_verified: number;
      problem: { seq: number; kind: string; detail: string } | null;
    },
    stderr: r.stderr,
  };
}

describe('audit verify catches tampering on a copy of a real database', () => {
  let broker: TestBroker;
  let last: number;
  let checkpoints: number[];

  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(1000) });
    await makeTraffic(broker, 24);
    await broker.services.auditCheckpoints.checkpointNow();
    last = (await broker.services.store.audit.head())!.seq;
    checkpoints = (await broker.services.store.audit.checkpoints()).map((c) => c.seq);
  });
  afterAll(async () => broker?.stop());

  it('an untouched copy verifies', async () => {
    const { config } = copyDatabase(broker, 'clean');
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, hmac: 'verified', events_verified: last, problem: null });
    expect(checkpoints.at(-1)).toBe(last);
  });

  it('one changed column of one row → modified at that seq', async () => {
    const { config, db } = copyDatabase(broker, 'modified');
    attack(db, (conn) => conn.prepare('UPDATE audit_events SET scopes = ? WHERE seq = 10').run('["write","admin"]'));
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ seq: 10, kind: 'modified' });
    expect(report.events_verified).toBe(9);
    // The report does not call the HMACs verified next to a row whose HMAC does not match.
    expect(report).toMatchObject({ ok: false, hmac: 'mismatch' });
  });

  it('a deleted middle row → missing at that seq', async () => {
    const { config, db } = copyDatabase(broker, 'missing');
    attack(db, (conn) => conn.prepare('DELETE FROM audit_events WHERE seq = 11').run());
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ seq: 11, kind: 'missing' });
    expect(report.hmac).toBe('incomplete');
  });

  it('two swapped rows → reordered at the first', async () => {
    const { config, db } = copyDatabase(broker, 'swapped');
    attack(db, (conn) => {
      conn.prepare('UPDATE audit_events SET seq = -1 WHERE seq = 8').run();
      conn.prepare('UPDATE audit_events SET seq = 8 WHERE seq = 12').run();
      conn.prepare('UPDATE audit_events SET seq = 12 WHERE seq = -1').run();
    });
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ seq: 8, kind: 'reordered' });
  });

  it('a forged row with a recomputed plain SHA-256 → inserted at its seq', async () => {
    const { config, db } = copyDatabase(broker, 'inserted');
    attack(db, (conn) => {
      // Make room after seq 6, then add a row whose hash is what an attacker without the key can compute.
      conn.prepare('UPDATE audit_events SET seq = -seq WHERE seq > 6').run();
      conn.prepare('UPDATE audit_events SET seq = 1 - seq WHERE seq < 0').run();
      const prev = conn.prepare<[], Row>('SELECT * FROM audit_events WHERE seq = 6').get()!;
      const forged = {
        seq: 7,
        time: Date.now(),
        type: 'credential.issued' as const,
        outcome: 'success' as const,
        actor: 'mallory',
        agent: 'mallory',
        backend: 'demo',
        scopes: ['write'],
        jti: 'forged',
        kid: null,
        reason: null,
        clientIp: null,
        requestId: null,
        details: null,
        prevHash: prev.hash,
        keyId: 'deadbeefdeadbeef',
      };
      const hash = createHash('sha256').update(forged.prevHash).update('\n').update(canonicalRow(forged)).digest('hex');
      conn
        .prepare(
          `INSERT INTO audit_events (seq, time, type, outcome, actor, agent, backend, scopes, jti, prev_hash, hash, key_id)
         VALUES (7, ?, 'credential.issued', 'success', 'mallory', 'mallory', 'demo', '["write"]', 'forged', ?, ?, ?)`,
        )
        .run(forged.time, forged.prevHash, hash, forged.keyId);
    });
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    // The forged row names a key id nobody has, so its HMAC cannot be checked, but the next row
    // links past it; with the real key id it is caught as a plain SHA-256.
    expect(report.problem).toMatchObject({ seq: 7, kind: 'inserted' });
  });

  it('a forged row that copies the real key id → inserted (plain SHA-256, not the HMAC)', async () => {
    const { config, db } = copyDatabase(broker, 'inserted2');
    attack(db, (conn) => {
      const prev = conn.prepare<[], Row & { key_id: string }>('SELECT * FROM audit_events WHERE seq = 6').get()!;
      conn.prepare('UPDATE audit_events SET seq = -seq WHERE seq > 6').run();
      conn.prepare('UPDATE audit_events SET seq = 1 - seq WHERE seq < 0').run();
      const forged = {
        seq: 7,
        time: 1,
        type: 'agent.created' as const,
        outcome: 'success' as const,
        actor: 'cli',
        agent: 'mallory',
        backend: null,
        scopes: null,
        jti: null,
        kid: null,
        reason: null,
        clientIp: null,
        requestId: null,
        details: null,
        prevHash: prev.hash,
        keyId: prev.key_id,
      };
      const hash = createHash('sha256').update(forged.prevHash).update('\n').update(canonicalRow(forged)).digest('hex');
      conn
        .prepare(
          "INSERT INTO audit_events (seq, time, type, outcome, actor, agent, prev_hash, hash, key_id) VALUES (7, 1, 'agent.created', 'success', 'cli', 'mallory', ?, ?, ?)",
        )
        .run(forged.prevHash, hash, forged.keyId);
    });
    const { report } = await verifyCopy(broker, config);
    expect(report.problem).toMatchObject({ seq: 7, kind: 'inserted' });
  });

  it('a cut tail → truncated, against the latest checkpoint', async () => {
    const { config, db } = copyDatabase(broker, 'truncated');
    attack(db, (conn) => conn.prepare('DELETE FROM audit_events WHERE seq > ?').run(last - 3));
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ seq: last - 2, kind: 'truncated' });
  });

  it('a head cut at a checkpoint, imitating retention without its audit.pruned record → missing at seq 1', async () => {
    const { config, db } = copyDatabase(broker, 'headcut');
    const anchor = checkpoints[1]!;
    attack(db, (conn) => {
      conn.prepare('DELETE FROM audit_events WHERE seq < ?').run(anchor);
      conn.prepare('DELETE FROM audit_checkpoints WHERE seq < ?').run(anchor);
    });
    const { code, report } = await verifyCopy(broker, config);
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ seq: 1, kind: 'missing' });
  });

  it('a forged checkpoint signature → bad-checkpoint', async () => {
    const { config, db } = copyDatabase(broker, 'badcp');
    const seq = checkpoints[0]!;
    attack(db, (conn) =>
      conn.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = ?').run(randomBytes(64).toString('base64url'), seq),
    );
    const { report } = await verifyCopy(broker, config);
    expect(report.problem).toMatchObject({ seq, kind: 'bad-checkpoint' });
  });

  it('a different audit key → unknown key at seq 1; no key at all → cannot verify, never ok', async () => {
    const { config } = copyDatabase(broker, 'keys');
    const wrong = await verifyCopy(broker, config, { ...broker.env, CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') });
    expect(wrong.code).toBe(1);
    expect(wrong.report.problem).toMatchObject({ seq: 1, kind: 'unknown-key' });
    const none = await verifyCopy(broker, config, { CREDDY_KEK: broker.env['CREDDY_KEK'] });
    expect(none.code).toBe(1);
    expect(none.report).toMatchObject({ ok: false, hmac: 'not-checked', problem: null });
    expect(none.stderr).toMatch(/cannot verify HMACs/);
  });
});
