/**
 * A replica killed with SIGKILL under load: clients that retry on another replica lose nothing.
 * Every credential they received verifies, has its audit row, and the log still verifies.
 */
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery } from '../helpers/pg.js';
import { runClients, within } from './clients.js';
import { type ReplicaSet, startReplicas } from './harness.js';

describe('kill -9 of one replica under load', () => {
  let set: ReplicaSet;
  beforeAll(async () => {
    // The victim is a process: only a process can be killed with SIGKILL mid-request. The two
    // that take over run in this process (a Node start and a server load fewer each).
    set = await startReplicas(3, { processes: [1] });
  });
  afterAll(async () => set?.stop());

  it('clients retrying elsewhere get only valid credentials, each in the audit log', async () => {
    const token = await set.agent('load', 'demo:read');
    const urls = set.replicas.map((r) => r.url);
    const clients = runClients(urls, token, { clients: 6, retry: true });
    let killedAt = 0;
    try {
      await within(20_000, () => clients.received.filter((r) => r.replica === 1).length >= 20);
      const before = clients.received.length;
      set.replicas[1]!.process!.kill('SIGKILL');
      killedAt = Date.now();
      await within(20_000, () => clients.received.length >= before + 100);
    } finally {
      await clients.stop();
    }
    expect(clients.gaveUp).toBe(0);
    // The dead replica was tried after the kill (its attempts failed) and the others took over.
    expect(clients.attempts.some((a) => a.replica === 1 && a.at > killedAt && a.status === 'network')).toBe(true);
    expect(clients.attempts.filter((a) => a.status !== 201 && a.replica !== 1)).toEqual([]);

    const jwks = createLocalJWKSet((await (await fetch(`${urls[0]}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    for (const { token: jwt } of clients.received) {
      await jwtVerify(jwt, jwks, { issuer: 'http://127.0.0.1:8400', audience: 'demo', typ: 'at+jwt' });
    }
    const ids = clients.received.map((r) => r.id);
    const rows = await adminQuery<{ jti: string }>(
      "SELECT jti FROM audit_events WHERE type = 'credential.issued' AND jti = ANY($1::text[])",
      [ids],
      set.db.name,
    );
    expect(new Set(rows.map((r) => r.jti))).toEqual(new Set(ids));
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
  });
});
