/**
 * Three `creddy server` processes on one PostgreSQL database answer as one broker: one audit
 * chain, revocations and key changes seen by every replica, fail-closed when the log stalls.
 */
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CLASS, LOCKS } from '../../src/store/postgres/db.js';
import { adminQuery, testClient } from '../helpers/pg.js';
import { eventually, issueOn, type ReplicaSet, startReplicas } from './harness.js';

const jwksKids = async (url: string): Promise<string[]> =>
  ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

describe('replicas on PostgreSQL behave as one broker', () => {
  let set: ReplicaSet;
  beforeAll(async () => {
    // The longest write_timeout: on a loaded machine, 60 requests at once must not turn into
    // 503s (fail-closed, below, has a set of its own with a short one).
    set = await startReplicas(3, { extra: 'audit:\n  write_timeout: 10s\n  checkpoint_every: 20' });
  });
  afterAll(async () => set?.stop());

  it('issuing on every replica at once extends one linear chain; every credential has its row', async () => {
    const token = await set.agent('load', 'demo:read');
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => issueOn(set.replicas[i % set.replicas.length]!.url, token)));
    for (const r of results) expect(r.status).toBe(201);
    const rows = await adminQuery<{ seq: number; prev_hash: string; hash: string }>(
      'SELECT seq::int AS seq, prev_hash, hash FROM audit_events ORDER BY seq',
      [],
      set.db.name,
    );
    rows.forEach((row, i) => {
      expect(row.seq).toBe(i + 1);
      if (i > 0) expect(row.prev_hash).toBe(rows[i - 1]!.hash);
    });
    const orphans = await adminQuery(
      `SELECT c.jti FROM credentials c LEFT JOIN audit_events a ON a.jti = c.jti AND a.type = 'credential.issued' WHERE a.seq IS NULL`,
      [],
      set.db.name,
    );
    expect(orphans).toEqual([]);
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit log verified/);
  });

  it('a credential revoked on one replica is revoked on all; an agent revoked by the CLI is refused by all', async () => {
    const token = await set.agent('revokee', 'demo:read');
    const [a, b, c] = set.replicas.map((r) => r.url) as [string, string, string];
    const issued = await issueOn(a, token);
    expect(issued.status).toBe(201);
    const del = await fetch(`${b}/v1/credentials/${issued.body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(del.status).toBe(200);
    // Replica A (and C) now report it revoked: a second revoke conflicts, the list no longer has it.
    for (const url of [a, c]) {
      const again = await fetch(`${url}/v1/credentials/${issued.body.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(again.status).toBe(409);
      expect(((await again.json()) as any).error.code).toBe('ERR_CONFLICT');
      const list = (await (await fetch(`${url}/v1/credentials`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
      expect(JSON.stringify(list)).not.toContain(issued.body.id);
    }
    const revoke = await set.cli('agent', 'revoke', 'revokee');
    expect(revoke.code, revoke.stderr).toBe(0);
    for (const url of [a, b, c]) {
      const refused = await issueOn(url, token);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('ERR_AGENT_REVOKED');
    }
  });

  it('every replica listens for key changes on a connection of its own', async () => {
    await eventually(async () => {
      const listeners = await adminQuery<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query = 'LISTEN creddy_keys'",
        [set.db.name],
      );
      return listeners[0]?.n === set.replicas.length;
    });
  });

  it('a rotation by the CLI reaches every replica: the new keys are published and the new current signs', async () => {
    const token = await set.agent('signer', 'demo:read');
    const rotate = await set.cli('keys', 'rotate', '--force', '--json');
    expect(rotate.code, rotate.stderr).toBe(0);
    const { current, next } = JSON.parse(rotate.stdout) as { current: string; next: string };
    for (const replica of set.replicas) {
      await eventually(async () => (await jwksKids(replica.url)).includes(next));
      await eventually(async () => {
        const r = await issueOn(replica.url, token);
        return r.status === 201 && decodeProtectedHeader(r.body.token).kid === current;
      });
    }
  });
});

describe('replicas on PostgreSQL fail closed as one broker', () => {
  let set: ReplicaSet;
  beforeAll(async () => {
    set = await startReplicas(3, { extra: 'audit:\n  write_timeout: 1s' });
  });
  afterAll(async () => set?.stop());

  it('fail-closed on every replica: while the chain is locked, 503 within write_timeout and no credential without its row', async () => {
    const token = await set.agent('stalled', 'demo:read');
    // Someone holds the audit chain (a stuck transaction elsewhere): no replica can append.
    const holder = testClient(set.db.url);
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
      const stalled = await Promise.all(set.replicas.flatMap((r) => [issueOn(r.url, token), issueOn(r.url, token)]));
      for (const r of stalled) {
        expect(r.status).toBe(503);
        expect(r.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
        expect(r.body.token).toBeUndefined();
      }
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
      await holder.end();
    }
    // Writes still waiting commit now; the broker revokes what nobody received.
    const delivered = new Set<string>();
    for (const replica of set.replicas) {
      await eventually(async () => {
        const r = await issueOn(replica.url, token);
        if (r.status === 201) delivered.add(r.body.id);
        return r.status === 201;
      });
    }
    await eventually(async () => {
      const rows = await adminQuery<{ jti: string; revoked_at: string | null }>(
        "SELECT jti, revoked_at FROM credentials WHERE agent = 'stalled'",
        [],
        set.db.name,
      );
      return rows.every((row) => delivered.has(row.jti) || row.revoked_at !== null);
    });
    // A batch still waiting for the lock when it was released may have committed then (a statement
    // waits at most write_timeout, so whether any did depends on timing): each was undone on the
    // record, and none of them was delivered.
    const undone = await adminQuery<{ jti: string }>(
      "SELECT jti FROM audit_events WHERE agent = 'stalled' AND type = 'credential.revoked' AND reason = 'ERR_AUDIT_UNAVAILABLE'",
      [],
      set.db.name,
    );
    for (const { jti } of undone) expect(delivered.has(jti)).toBe(false);
    const orphans = await adminQuery(
      `SELECT c.jti FROM credentials c LEFT JOIN audit_events a ON a.jti = c.jti AND a.type = 'credential.issued' WHERE a.seq IS NULL`,
      [],
      set.db.name,
    );
    expect(orphans).toEqual([]);
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
  });
});
