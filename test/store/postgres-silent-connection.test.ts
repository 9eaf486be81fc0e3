/**
 * A PostgreSQL connection that goes silent without closing (the host behind the address gone
 * after a DNS failover, a partition), through the broker's real HTTP API on a real database: the
 * freezing proxy (../helpers/freezing-proxy.ts) stands where the network would fail. With
 * `audit.write_timeout: 1s` every statement of the server has a 1 s deadline: issuance fails
 * closed within it, /readyz says not ready, and writes come back by themselves on new
 * connections, with one verifiable chain throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CLASS, LOCKS } from '../../src/store/postgres/db.js';
import { runCli } from '../helpers/cli.js';
import { type FreezingProxy, startFreezingProxy } from '../helpers/freezing-proxy.js';
import { eventually, startBroker, type TestBroker } from '../helpers/harness.js';
import { adminQuery, type FreshDatabase, migratedDatabase, testClient } from '../helpers/pg.js';

/** Far past every bound under test: a request still unanswered by then hangs. */
const HANGS_MS = 10_000;

describe('a PostgreSQL connection that goes silent', () => {
  let fresh: FreshDatabase;
  let proxy: FreezingProxy;
  let broker: TestBroker;
  beforeAll(async () => {
    fresh = await migratedDatabase();
    proxy = await startFreezingProxy(fresh.url);
    broker = await startBroker({ extra: `store: ${proxy.url}\nstore_pool: 3\naudit:\n  write_timeout: 1s` });
  });
  afterAll(async () => {
    // The proxy first: its sockets' ends are what lets the broker's silent connections close.
    await proxy?.close();
    await broker?.stop();
    await fresh?.drop();
  });

  const issue = async (token: string) => {
    const res = await fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'demo' }),
      signal: AbortSignal.timeout(HANGS_MS),
    });
    return { status: res.status, body: (await res.json()) as { id?: string; token?: string; error?: { code: string } } };
  };
  const readyz = async () => {
    const res = await fetch(`${broker.url}/readyz`, { signal: AbortSignal.timeout(HANGS_MS) });
    return { status: res.status, body: (await res.json()) as { status: string; checks: { store: string } } };
  };
  /** Issues until one is delivered; returns the ids delivered on the way (one). */
  const recovered = async (token: string): Promise<string> => {
    let id: string | undefined;
    await eventually(async () => {
      const r = await issue(token);
      if (r.status === 201) id = r.body.id;
      else expect(r.status).toBe(503);
      return id !== undefined;
    }, 15_000);
    return id!;
  };
  /** The agent's credential.issued rows, and every credential row of it, from the database itself. */
  const recorded = async (agent: string) => ({
    issued: (
      await adminQuery<{ jti: string }>("SELECT jti FROM audit_events WHERE agent = $1 AND type = 'credential.issued'", [agent], fresh.name)
    ).map((r) => r.jti),
    credentials: (await adminQuery<{ jti: string }>('SELECT jti FROM credentials WHERE agent = $1', [agent], fresh.name)).map((r) => r.jti),
  });
  const verify = async () => {
    const result = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  };

  it('fails closed within the deadline while the host is gone, says not ready, and recovers once the address answers again', async () => {
    const token = await broker.agent('failover', 'demo:read');
    const delivered = new Set<string>();
    // Several connections in the pool, as under load.
    for (const r of await Promise.all([issue(token), issue(token), issue(token)])) {
      expect(r.status).toBe(201);
      delivered.add(r.body.id!);
    }
    expect((await readyz()).status).toBe(200);

    // The primary's host vanishes: open connections go silent, new ones lead nowhere.
    proxy.freezeAll();
    proxy.blackholeNew(true);
    for (let i = 0; i < 3; i++) {
      const r = await issue(token);
      expect(r.status).toBe(503);
      expect(['ERR_NOT_READY', 'ERR_AUDIT_UNAVAILABLE']).toContain(r.body.error?.code);
      expect(r.body.token).toBeUndefined();
    }
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'not_ready', checks: { store: 'unavailable' } });
    // Nothing piles up behind the silent connection.
    await eventually(() => broker.services.audit.depth() === 0);

    // The address leads to a server again (the standby, promoted); the old connections stay silent.
    proxy.blackholeNew(false);
    delivered.add(await recovered(token));
    await eventually(async () => (await readyz()).status === 200, 10_000);
    for (const r of await Promise.all([issue(token), issue(token), issue(token)])) {
      expect(r.status).toBe(201);
      delivered.add(r.body.id!);
    }

    // Every credential delivered has its row, and no credential row lacks one.
    await broker.services.audit.flush();
    const { issued, credentials } = await recorded('failover');
    expect(new Set(issued)).toEqual(new Set(credentials));
    for (const id of delivered) expect(issued).toContain(id);
    await verify();
  });

  it("a session cut off while it holds the audit chain's lock keeps it no longer than the deadline", async () => {
    const token = await broker.agent('cut-off', 'demo:read');
    // The append's INSERT never reaches the server: its transaction stays open there, holding the
    // chain's lock, until the server's idle-in-transaction timeout (the deadline) ends it.
    proxy.trap('insert');
    const cut = await issue(token);
    expect(cut.status).toBe(503);
    expect(cut.body.error?.code).toBe('ERR_AUDIT_UNAVAILABLE');
    // Later appends need that lock: they get it within seconds, not after 30.
    const id = await recovered(token);
    await broker.services.audit.flush();
    // The cut transaction was rolled back: the log holds the delivered credential only.
    const { issued, credentials } = await recorded('cut-off');
    expect(issued).toEqual([id]);
    expect(credentials).toEqual([id]);
    await verify();
  });

  it('a COMMIT whose answer never comes: 503, the next writes chain after it, nothing written twice', async () => {
    const token = await broker.agent('unanswered', 'demo:read');
    proxy.trap('commit');
    const lost = await issue(token);
    expect(lost.status).toBe(503);
    expect(lost.body.token).toBeUndefined();
    const id = await recovered(token);
    await broker.services.audit.flush();
    // The server did commit it: the one ambiguity no broker can remove (docs/deploy.md, "Faults").
    // Its row stands once, for a credential nobody received, and is never written again. A retry
    // whose caller had its 503 just as the writer moved on may commit too: it is compensated.
    const { issued, credentials } = await recorded('unanswered');
    expect(new Set(issued).size).toBe(issued.length);
    expect(issued).toContain(id);
    expect(new Set(credentials)).toEqual(new Set(issued));
    const revoked = await adminQuery<{ jti: string }>(
      "SELECT jti FROM audit_events WHERE agent = $1 AND type = 'credential.revoked'",
      ['unanswered'],
      fresh.name,
    );
    // The lost one and the delivered one; anything more was revoked.
    expect(issued.length - revoked.length).toBe(2);
    await verify();
  });

  it('a COMMIT slower than the deadline still commits on the server: its credential is revoked, not left live', async () => {
    const token = await broker.agent('slow-commit', 'demo:read');
    // A deferred trigger makes this agent’s COMMIT take 1.2 s (a slow fsync, a synchronous
    // standby): past write_timeout (1 s), within three times it.
    await adminQuery(
      `CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.2); RETURN NULL; END $$;
       CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON credentials DEFERRABLE INITIALLY DEFERRED
         FOR EACH ROW WHEN (NEW.agent = 'slow-commit') EXECUTE FUNCTION slow_commit()`,
      [],
      fresh.name,
    );
    try {
      const slow = await issue(token);
      expect(slow.status).toBe(503);
      expect(slow.body.token).toBeUndefined();
      await broker.services.audit.flush();
      // The row committed after its caller's 503: compensated like any late commit (the
      // compensation is its own transaction, which follows the commit it answers).
      const rows = () =>
        adminQuery<{ jti: string; revoked_at: unknown }>(
          'SELECT jti, revoked_at FROM credentials WHERE agent = $1',
          ['slow-commit'],
          fresh.name,
        );
      await eventually(async () => (await rows())[0]?.revoked_at != null);
      const [row, ...more] = await rows();
      expect(more).toEqual([]);
      const revoked = await adminQuery("SELECT 1 FROM audit_events WHERE type = 'credential.revoked' AND jti = $1", [row!.jti], fresh.name);
      expect(revoked).toHaveLength(1);
    } finally {
      await adminQuery('DROP TRIGGER slow_commit ON credentials; DROP FUNCTION slow_commit()', [], fresh.name);
    }
    await verify();
  });

  it('/readyz is not ready while the store takes no writes, though its connections answer', async () => {
    expect((await readyz()).status).toBe(200);
    // The chain's lock held elsewhere (an operator's prune step, a session gone silent) is the
    // same for every replica: appends wait it out, and no replica leaves the load balancer for it.
    const holder = testClient(fresh.url);
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
      expect((await readyz()).status).toBe(200);
      await holder.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
    } finally {
      await holder.end();
    }
    // The address leads to a server that takes no writes (a standby), for every new session.
    const reconnect = () =>
      adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [fresh.name]);
    await adminQuery(`ALTER DATABASE ${fresh.name} SET default_transaction_read_only = on`);
    try {
      await reconnect();
      // Not a connection lost to the termination: every probe on the new sessions says so.
      await eventually(async () => (await readyz()).status === 503);
      expect((await readyz()).status).toBe(503);
    } finally {
      await adminQuery(`ALTER DATABASE ${fresh.name} RESET default_transaction_read_only`);
      await reconnect();
    }
    await eventually(async () => (await readyz()).status === 200);
  });
});
