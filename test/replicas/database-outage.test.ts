/**
 * PostgreSQL stopped under load, on a server of this test's own (so other tests keep theirs):
 * fail-closed 503s and not-ready while it is down, service back within 5 s of its return
 * without restarting creddy, and nothing issued without its audit row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery } from '../helpers/pg.js';
import { type PrivatePostgres, startPrivatePostgres } from '../helpers/private-pg.js';
import { runClients, within } from './clients.js';
import { issueOn, type ReplicaSet, startReplicas } from './harness.js';

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: { store: string } } };
};

describe('PostgreSQL stopped and started under load', () => {
  let pg: PrivatePostgres;
  let set: ReplicaSet;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    set = await startReplicas(2, { adminUrl: pg.adminUrl, extra: 'audit:\n  write_timeout: 1s' });
  });
  afterAll(async () => {
    await set?.stop();
    await pg?.destroy();
  });

  it('answers 503 and not ready while it is down, and serves again within 5 s of its return', async () => {
    const token = await set.agent('load', 'demo:read');
    const urls = set.replicas.map((r) => r.url);
    const clients = runClients(urls, token, { clients: 4, retry: false });
    let downFrom = 0;
    let downUntil = 0;
    try {
      await within(20_000, () => clients.received.length >= 40);
      await pg.stop();
      try {
        for (const url of urls) {
          await within(5_000, async () => {
            const r = await readyz(url);
            return r.status === 503 && r.body.status === 'not_ready' && r.body.checks.store === 'unavailable';
          });
        }
        downFrom = Date.now();
        // Under load for a while with the database gone.
        await new Promise((r) => setTimeout(r, 1_500));
        downUntil = Date.now();
      } finally {
        await pg.start();
      }
      const back = Date.now();
      for (const url of urls) {
        await within(5_000, () => clients.attempts.some((a) => a.replica === urls.indexOf(url) && a.at > back && a.status === 201));
        await within(5_000, async () => (await readyz(url)).status === 200);
      }
      // Each replica listens for key changes again on a connection of its own.
      await within(5_000, async () => {
        const rows = await adminQuery<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query = 'LISTEN creddy_keys'",
          [set.db.name],
          undefined,
          pg.adminUrl,
        );
        return rows[0]?.n === urls.length;
      });
    } finally {
      await clients.stop();
    }
    // While it was down: fail-closed refusals only, never a credential and never a 500.
    const during = clients.attempts.filter((a) => a.at > downFrom && a.at < downUntil);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((a) => a.status !== 503)).toEqual([]);
    // Refused at the agent lookup (ERR_NOT_READY) or, if that was served just before, at the audit append.
    for (const a of during) expect(['ERR_NOT_READY', 'ERR_AUDIT_UNAVAILABLE']).toContain(a.code);
    expect(clients.attempts.filter((a) => a.status !== 201 && a.status !== 503)).toEqual([]);

    // A rotation by the CLI reaches both replicas again.
    const rotate = await set.cli('keys', 'rotate', '--force', '--json');
    expect(rotate.code, rotate.stderr).toBe(0);
    const { current } = JSON.parse(rotate.stdout) as { current: string };
    for (const url of urls) {
      await within(5_000, async () => {
        const r = await issueOn(url, token);
        return r.status === 201 && JSON.parse(Buffer.from(r.body.token.split('.')[0], 'base64url').toString()).kid === current;
      });
    }

    const ids = clients.received.map((r) => r.id);
    const rows = await adminQuery<{ jti: string }>(
      "SELECT jti FROM audit_events WHERE type = 'credential.issued' AND jti = ANY($1::text[])",
      [ids],
      set.db.name,
      pg.adminUrl,
    );
    expect(new Set(rows.map((r) => r.jti))).toEqual(new Set(ids));
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
  });
});
