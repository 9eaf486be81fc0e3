/**
 * Scheduled rotation with three replicas ticking every second: each rotation happens exactly once,
 * whichever replica wins it; the others see it done and do nothing. The replicas' shared clock
 * runs 40 times faster than the wall clock, so every tick finds a rotation due on all three at
 * once (the hardest race) and a generation takes about one tick instead of four seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery } from '../helpers/pg.js';
import { eventually, type ReplicaSet, startReplicas } from './harness.js';

interface Row {
  type: string;
  kid: string;
  actor: string;
  details: string;
}

describe('scheduled rotation across replicas', () => {
  let set: ReplicaSet;
  beforeAll(async () => {
    // A rotation falls due about every 4 s of the replicas' clock (publish_ahead + the 3 s publication lag).
    set = await startReplicas(3, { extra: 'keys:\n  rotation_period: 2s\n  publish_ahead: 1s\n  jwks_max_age: 1s' });
  });
  afterAll(async () => set?.stop());

  it('each generation rotates once: every kid is activated once and retired once, in one unbroken line', async () => {
    const rows = () =>
      adminQuery<Row>("SELECT type, kid, actor, details FROM audit_events WHERE type LIKE 'key.%' ORDER BY seq", [], set.db.name);
    await eventually(async () => {
      set.clock.advance(1); // every 25 ms of polling
      return (await rows()).filter((r) => r.type === 'key.activated').length >= 2;
    }, 30_000);
    for (const replica of set.replicas) await replica.stop();
    const keyRows = await rows();
    const activated = keyRows.filter((r) => r.type === 'key.activated');
    const retired = keyRows.filter((r) => r.type === 'key.retired');
    expect(activated.every((r) => r.actor === 'schedule')).toBe(true);
    expect(new Set(activated.map((r) => r.kid)).size).toBe(activated.length);
    expect(new Set(retired.map((r) => r.kid)).size).toBe(retired.length);
    expect(retired).toHaveLength(activated.length);
    // Rotation n retires what rotation n-1 activated: no generation skipped or forked.
    const details = activated.map((r) => JSON.parse(r.details) as { retired: string; current: string });
    for (let i = 1; i < details.length; i++) expect(details[i]!.retired).toBe(details[i - 1]!.current);
    const keys = await adminQuery<{ state: string; n: string }>(
      'SELECT state, count(*) AS n FROM signing_keys GROUP BY state',
      [],
      set.db.name,
    );
    expect(Object.fromEntries(keys.map((k) => [k.state, Number(k.n)]))).toMatchObject({ current: 1, next: 1, retired: activated.length });
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
  });
});
