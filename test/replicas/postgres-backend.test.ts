/**
 * `type: postgres` on three replicas sharing one store: every expired database user is dropped
 * once, by whichever replica's reaper claims it, and recorded once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrlEnv, createPgFixture, type PgFixture } from '../backends/postgres/fixture.js';
import { adminQuery } from '../helpers/pg.js';
import { eventually, issueOn, type ReplicaSet, startReplicas } from './harness.js';

const REAPER_MS = 200;

describe('database users across replicas', () => {
  let fx: PgFixture;
  let set: ReplicaSet;
  beforeAll(async () => {
    fx = await createPgFixture();
    // Passes every 200 ms instead of 5 s: the same passes, sooner.
    set = await startReplicas(3, { backendsYaml: fx.backendsYaml(), env: adminUrlEnv(fx), reaperIntervalMs: REAPER_MS });
  });
  afterAll(async () => {
    await set?.stop();
    await fx?.drop();
  });

  it('drops each expired user once, whichever replica claims it', async () => {
    const token = await set.agent('etl', 'db:read');
    const issued = await Promise.all(
      Array.from({ length: 9 }, (_, i) => issueOn(set.replicas[i % 3]!.url, token, { backend: 'db', scopes: ['read'], ttl: 60 })),
    );
    for (const r of issued) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const jtis = issued.map((r) => r.body.id as string);
    expect(await fx.leftoverRoles()).toHaveLength(9);
    // The credentials expire (as if 60 s had passed).
    await adminQuery('UPDATE credentials SET expires_at = extract(epoch FROM now())::bigint - 1 WHERE jti = ANY($1)', [jtis], set.db.name);
    await eventually(async () => (await fx.leftoverRoles()).length === 0, 30_000);
    // A pass or two more, so a second drop would have had its chance to be recorded.
    await new Promise((r) => setTimeout(r, 3 * REAPER_MS));
    const rows = await adminQuery<{ jti: string; actor: string }>(
      "SELECT jti, actor FROM audit_events WHERE type = 'downstream.revoked' AND jti = ANY($1)",
      [jtis],
      set.db.name,
    );
    expect(rows.map((r) => r.jti).sort()).toEqual([...jtis].sort());
    expect(rows.every((r) => r.actor === 'reaper')).toBe(true);
  });
});
