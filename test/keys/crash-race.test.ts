import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRecord } from '../../src/model/key.js';
import { type CrashPoints, runCli, runCrashCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * Safety of transitions: racing rotators and a process killed at every step of a rotation must
 * leave exactly one `current` and one `next`, with the current key in the served JWKS. The racers
 * and the killed rotations are real processes (test/helpers/crash-cli.mjs); the checks in
 * between run the CLI in this process.
 */
describe('rotation under races and crashes', () => {
  let broker: TestBroker;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
  /** The same command in a process of its own that stalls or dies at a named step. */
  const opProcess = (args: string[], points: CrashPoints) => runCrashCli([...args, '--config', broker.configPath], broker.env, points);
  const keys = () => broker.services.store.keys.list();
  const count = (list: KeyRecord[], state: KeyRecord['state']) => list.filter((k) => k.state === state).length;

  /** The invariants, in the store and in what a (re)started process serves. */
  const expectInvariants = async (): Promise<KeyRecord[]> => {
    const list = await keys();
    expect(count(list, 'current')).toBe(1);
    expect(count(list, 'next')).toBe(1);
    // A fresh CLI run (its own services, as after a restart) loads the keys and publishes the current one.
    const listed = await op(['keys', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ kid: string; state: string; published: boolean }>;
    expect(rows.filter((r) => r.state === 'current' && r.published)).toHaveLength(1);
    expect(rows.filter((r) => r.state === 'next' && r.published)).toHaveLength(1);
    // The running server's keyring, refreshed (as its 1 s timer does), signs with that key.
    const current = list.find((k) => k.state === 'current')!.kid;
    await broker.services.keyring.refresh();
    expect(broker.services.keyring.signer().kid).toBe(current);
    const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toContain(current);
    return list;
  };

  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker.stop());

  it('two CLIs rotating at the same moment, three times: one rotation wins, the other stands down; one current, one next', async () => {
    for (let round = 0; round < 3; round++) {
      // Both wait between reading the keys and writing them until the other has read them too.
      const meetAt = { step: 'rotate:generated', dir: mkdtempSync(join(broker.dir, 'meet-')), parties: 2 };
      const results = await Promise.all([0, 1].map(() => opProcess(['keys', 'rotate', '--force', '--json'], { meetAt })));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const bodies = results.map((r) => JSON.parse(r.stdout) as { rotated: boolean; current: string; next: string });
      // Exactly one rotates; the loser re-reads, sees the winner's rotation and stands down.
      expect(bodies.filter((b) => b.rotated)).toHaveLength(1);
      const list = await expectInvariants();
      // Every reported rotation retired exactly one key: none lost, none doubled.
      expect(count(list, 'retired')).toBe(round + 1);
      // The loser reports the winner's keys, which are the ones in the store now.
      const now = list.find((k) => k.state === 'current')!.kid;
      expect(bodies.map((b) => b.current)).toEqual([now, now]);
    }
  }, 60_000);

  it.each(['rotate:generated', 'rotate:committed'])(
    'kill -9 at %s, then restart: invariants hold and the audit log agrees',
    async (step) => {
      const before = await keys();
      const activations = async () => (await broker.services.store.audit.query({ type: 'key.activated', limit: 1000 })).map((r) => r.kid);
      const activatedBefore = await activations();
      const crashed = await opProcess(['keys', 'rotate', '--force'], { crashAt: step });
      expect(crashed.code).toBeNull(); // killed by SIGKILL, not exited
      const after = await expectInvariants();
      const current = after.find((k) => k.state === 'current')!.kid;
      const moved = current !== before.find((k) => k.state === 'current')!.kid;
      // Before the commit nothing changed; from the commit on, the whole rotation happened.
      expect(moved).toBe(step !== 'rotate:generated');
      expect(after.length - before.length).toBe(moved ? 1 : 0);
      // The rows commit with the transition: killed right after the commit, the log already
      // records the activation; killed before it, the log records nothing.
      const activatedAfter = await activations();
      expect(activatedAfter.length - activatedBefore.length).toBe(moved ? 1 : 0);
      if (moved) expect(activatedAfter).toContain(current);
      // And the next rotation works normally.
      expect((await op(['keys', 'rotate', '--force'])).code).toBe(0);
      await expectInvariants();
    },
  );

  it('kill -9 in the middle of the transaction (after retiring current, before promoting next) rolls back', async () => {
    const before = await keys();
    const current = before.find((k) => k.state === 'current')!.kid;
    const dbPath = broker.services.config.store.kind === 'sqlite' ? broker.services.config.store.path : '';
    // The same statements store.keys.apply runs, cut off by SIGKILL between the first and second op.
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(${JSON.stringify(dbPath)});
      db.pragma('busy_timeout = 5000');
      db.exec('BEGIN IMMEDIATE');
      db.prepare("UPDATE signing_keys SET state = 'retired', retired_at = 1 WHERE kid = ? AND state = 'current'").run(${JSON.stringify(current)});
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['-e', script], { cwd: resolve(import.meta.dirname, '../..') });
    expect(child.signal).toBe('SIGKILL');
    const after = await expectInvariants();
    expect(after.find((k) => k.state === 'current')!.kid).toBe(current);
  });
});
