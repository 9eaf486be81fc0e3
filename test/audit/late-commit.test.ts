import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createSealer } from '../../src/audit/chain.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { isCreddyError } from '../../src/errors.js';
import { auditEvent } from '../../src/model/audit.js';
import type { CredentialRecord } from '../../src/model/credential.js';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { runCli } from '../helpers/cli.js';
import type { TestBroker } from '../helpers/harness.js';
import { eventually, issue, onFakeTime, silentLogger, startBroker, tempDir, useFakeTimers } from '../helpers/harness.js';
import { checkpointsEvery } from './helpers.js';

const key = { id: 'test-key', key: Buffer.alloc(32, 7) };

const credential = (jti: string): CredentialRecord => ({
  jti,
  agent: 'bot',
  backend: 'demo',
  scopes: ['read'],
  kid: 'kid',
  issuedAt: 1,
  expiresAt: 4_000_000_000,
  revokedAt: null,
  metadata: null,
  downstream: null,
  revocationHandle: null,
  downstreamRevokedAt: null,
});
const issued = (jti: string) => ({
  credential: credential(jti),
  event: auditEvent({ time: Date.now(), type: 'credential.issued', outcome: 'success', actor: 'bot', agent: 'bot', backend: 'demo', jti }),
});

describe('audit writer: a write that times out', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(5) });
  });
  afterAll(async () => broker.stop());

  /** The broker's real store with a stalled disk in front of append (fault injection, not a mock). */
  function stalling(store: Store, ms: number): Store {
    return {
      ...store,
      audit: {
        ...store.audit,
        append: async (...args) => {
          await new Promise((r) => setTimeout(r, ms));
          return store.audit.append(...args);
        },
      },
    };
  }

  it('is never written when it had not been sent; is deny-listed and recorded when it committed late', async () => {
    // A store of its own: this writer seals with a test key the broker's log does not know.
    const tmp = tempDir();
    const store = createSqliteStore(join(tmp.dir, 'creddy.db'));
    onTestFinished(async () => {
      await store.close();
      tmp.cleanup();
    });
    const compensated: string[] = [];
    const writer = createAuditWriter({
      store: stalling(store, 300),
      seal: createSealer(key),
      timeoutMs: 100,
      logger: silentLogger,
      onLateCommit: async (row) => void compensated.push(row.jti!),
    });
    // "late" is in flight (stalled) when its timeout fires; "dropped" is queued behind it and
    // times out before any transaction takes it.
    const late = writer.write(issued('late-commit-jti'));
    await new Promise((r) => setImmediate(r));
    const dropped = writer.write(issued('dropped-jti'));
    for (const result of await Promise.allSettled([late, dropped])) {
      expect(result.status).toBe('rejected');
      expect(isCreddyError((result as PromiseRejectedResult).reason, 'ERR_AUDIT_UNAVAILABLE')).toBe(true);
    }
    await writer.flush();
    expect(await store.credentials.get('dropped-jti')).toBeUndefined();
    expect(await store.audit.query({ jti: 'dropped-jti', limit: 5 })).toEqual([]);
    expect(compensated).toEqual(['late-commit-jti']);
  });

  it('a transaction the store leaves unanswered holds up neither later writes nor the queue; if it commits after all, it is compensated', async () => {
    const tmp = tempDir();
    const store = createSqliteStore(join(tmp.dir, 'creddy.db'));
    onTestFinished(async () => {
      await store.close();
      tmp.cleanup();
    });
    // The first append hangs until the test lets it go (a connection gone silent), then commits.
    let release: () => void = () => {};
    const silent = new Promise<void>((r) => (release = r));
    let first = true;
    const compensated: string[] = [];
    const writer = createAuditWriter({
      store: {
        ...store,
        audit: {
          ...store.audit,
          append: async (...args) => {
            if (first) {
              first = false;
              await silent;
            }
            return store.audit.append(...args);
          },
        },
      },
      seal: createSealer(key),
      timeoutMs: 100,
      logger: silentLogger,
      onLateCommit: async (row) => void compensated.push(row.jti!),
    });
    const hung = await writer.write(issued('hung-jti')).catch((err: unknown) => err);
    expect(isCreddyError(hung, 'ERR_AUDIT_UNAVAILABLE')).toBe(true);
    // The writer stops waiting (at twice timeoutMs) and the next write gets a transaction of its own.
    await eventually(() => writer.depth() === 0);
    expect((await writer.write(issued('next-jti'))).jti).toBe('next-jti');
    // The hung transaction commits in the end: its caller had a 503, so it is compensated.
    release();
    await writer.flush();
    expect(compensated).toEqual(['hung-jti']);
    const rows = await store.audit.query({ type: 'credential.issued', limit: 10, order: 'asc' });
    expect(rows.map((r) => r.jti)).toEqual(['next-jti', 'hung-jti']);
  });

  it('one row the store refuses fails its own write only, not the others of its group', async () => {
    const tmp = tempDir();
    const store = createSqliteStore(join(tmp.dir, 'creddy.db'));
    const attacker = new Database(join(tmp.dir, 'creddy.db'));
    onTestFinished(async () => {
      attacker.close();
      await store.close();
      tmp.cleanup();
    });
    // A store that refuses one caller's rows (a check, a size limit, a character it cannot hold).
    attacker.exec(
      "CREATE TRIGGER test_poison BEFORE INSERT ON audit_events WHEN NEW.jti LIKE 'poison-%' BEGIN SELECT RAISE(ABORT, 'refused row'); END;",
    );
    const warnings: string[] = [];
    const writer = createAuditWriter({
      store,
      seal: createSealer(key),
      timeoutMs: 5000,
      logger: { ...silentLogger, warn: (msg) => void warnings.push(msg) },
    });
    // Written in one turn: one group, one transaction.
    const jtis = ['honest-1', 'poison-1', 'honest-2', 'honest-3', 'poison-2', 'honest-4'];
    const results = await Promise.allSettled(jtis.map((jti) => writer.write(issued(jti))));
    expect(results.map((r) => r.status)).toEqual(jtis.map((jti) => (jti.startsWith('poison') ? 'rejected' : 'fulfilled')));
    expect(warnings).toEqual(['audit group commit failed; committing its rows one by one']);
    const rows = await store.audit.query({ type: 'credential.issued', limit: 10, order: 'asc' });
    expect(rows.map((r) => r.jti)).toEqual(['honest-1', 'honest-2', 'honest-3', 'honest-4']);
    for (const jti of ['poison-1', 'poison-2']) expect(await store.credentials.get(jti)).toBeUndefined();
  });

  it('the broker compensates a late commit: the credential is revoked and the log says why', async () => {
    const token = await broker.agent('slow-disk', 'demo:read');
    // The real service wiring, with the disk stalled beyond write_timeout (2 s) for one issue;
    // the stall and the timeout run on fake time.
    const { store } = broker.services;
    const append = store.audit.append.bind(store.audit);
    let stall = true;
    (store.audit as { append: Store['audit']['append'] }).append = async (...args) => {
      if (stall) {
        stall = false;
        await new Promise((r) => setTimeout(r, 2500));
      }
      return append(...args);
    };
    await useFakeTimers(['setTimeout', 'clearTimeout', 'performance']);
    try {
      const res = await onFakeTime(issue(broker.url, token, { backend: 'demo' }));
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('ERR_AUDIT_UNAVAILABLE');
      // The stalled write commits after all; the writer then revokes what it had refused.
      await vi.advanceTimersByTimeAsync(1000);
      const rowsOf = async () => (await store.audit.query({ agent: 'slow-disk', limit: 10, order: 'asc' })).filter((r) => r.jti !== null);
      await eventually(async () => (await rowsOf()).length === 2);
      await broker.services.audit.flush();
      const rows = await rowsOf();
      expect(rows.map((r) => [r.type, r.reason])).toEqual([
        ['credential.issued', null],
        ['credential.revoked', 'ERR_AUDIT_UNAVAILABLE'],
      ]);
      expect((await store.credentials.get(rows[0]!.jti!))?.revokedAt).not.toBeNull();
    } finally {
      vi.useRealTimers();
      (store.audit as { append: Store['audit']['append'] }).append = append;
    }
  });

  it('a lone surrogate in caller input cannot break the chain', async () => {
    const token = await broker.agent('odd-strings', 'demo:read');
    const bad = await issue(broker.url, token, { backend: 'x\ud800' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('backend');
    const ok = await issue(broker.url, token, { backend: 'demo', metadata: { note: 'a\ud800b' } });
    expect(ok.status).toBe(201);
    await broker.services.audit.flush();
    const verified = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
