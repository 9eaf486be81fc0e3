import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * The state guard compares key rows with the audit log in two reads. A rotation by another
 * process that commits between them is not tampering: found by test/replicas/rotation-under-load,
 * where a replica refused its new current key as "not matching the log", served a JWKS without it
 * and answered 503 until its next refresh.
 */
describe('key rows vetted against the log while another process rotates', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker?.stop());

  it('a rotation committed between the rows and the log is read again, not refused', async () => {
    const guard = broker.services.stateGuard!;
    let reads = 0;
    let rotated = '';
    // The first read returns the rows as they were before a rotation that commits right after it.
    const load = async () => {
      const rows = await broker.services.store.keys.list();
      if (reads++ === 0) {
        const r = await runCli(['keys', 'rotate', '--force', '--json', '--config', broker.configPath], broker.env);
        expect(r.code, r.stderr).toBe(0);
        rotated = (JSON.parse(r.stdout) as { current: string }).current;
      }
      return rows;
    };
    const { loaded, usable } = await guard.vetKeys(load);
    expect(reads).toBe(2);
    expect(usable).toEqual(loaded);
    expect(usable.find((k) => k.state === 'current')?.kid).toBe(rotated);
    expect(broker.logLines.filter((l) => l.includes('does not match the audit log'))).toEqual([]);
  });

  it('a row that disagrees on every read is still refused, and logged once', async () => {
    const guard = broker.services.stateGuard!;
    let reads = 0;
    // A `next` row presented as `current` on every read: what an edited row looks like.
    const load = async () => {
      reads++;
      return (await broker.services.store.keys.list()).map((k) => (k.state === 'next' ? { ...k, state: 'current' as const } : k));
    };
    const { loaded, usable } = await guard.vetKeys(load);
    const forged = loaded.find((k) => k.state === 'current' && !usable.includes(k));
    expect(forged).toBeDefined();
    expect(usable).toHaveLength(loaded.length - 1);
    expect(reads).toBe(3);
    expect(broker.logLines.filter((l) => l.includes('does not match the audit log') && l.includes(forged!.kid))).toHaveLength(1);
  });
});
