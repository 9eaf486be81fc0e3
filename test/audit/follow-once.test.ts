/**
 * `audit list --follow` feeds SIEMs: every row must come out exactly once, in seq order, however
 * the follower's reads interleave with commits. It printed rows twice when a commit landed between
 * its head read and its query (the head, not the last row printed, became the next cursor), and
 * skipped rows committed between an empty first query and that head read. A proxy in front of
 * PostgreSQL makes those interleavings certain: before each of the follower's statements, the
 * broker commits concurrent issuances and denials.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { eventually, issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { type SteppingProxy, startSteppingProxy } from '../helpers/stepping-proxy.js';

/** The follower's statements: its queries, and the head read by its prepared name. */
const followerStatement = (chunk: Buffer): boolean => chunk.includes('audit_events') || chunk.includes('audit-head');

describe('audit list --follow prints every row once, in seq order', () => {
  let db: FreshDatabase;
  let broker: TestBroker;
  let proxy: SteppingProxy;
  let token: string;
  /** While positive, each follower statement after the first is preceded by one round of writes. */
  let roundsLeft = 0;
  let statements = 0;

  // Two issuances and two denials at once: the group commit puts several rows in one
  // transaction, and rows the filter skips sit between the ones it prints.
  const round = () =>
    Promise.all([['read'], ['write'], ['read'], ['write']].map((scopes) => issue(broker.url, token, { backend: 'demo', scopes })));

  beforeAll(async () => {
    db = await migratedDatabase();
    broker = await startBroker({ extra: `store: ${db.url}` });
    token = await broker.agent('writer', 'demo:read');
    proxy = await startSteppingProxy(db.url, async (chunk) => {
      if (!followerStatement(chunk)) return;
      // Not before the first (the initial query): it must find nothing, so the rows committed
      // right after it are the ones an empty start used to skip.
      if (statements++ > 0 && roundsLeft > 0) {
        roundsLeft--;
        await round();
      }
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await broker?.stop();
    await db?.drop();
  });

  it('with rows committed between every two statements of the follower (PostgreSQL)', async () => {
    const config = join(broker.dir, 'follower.yaml');
    writeFileSync(config, readFileSync(broker.configPath, 'utf8').replace(db.url, proxy.url));
    roundsLeft = 6;
    const child = spawn(process.execPath, [BIN, 'audit', 'list', '--follow', '--json', '--outcome', 'denied', '--config', config], {
      env: { PATH: process.env['PATH'], ...broker.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await eventually(() => roundsLeft === 0, 15_000);
      // Two more polls (head read and query each) after the last write.
      const settled = statements + 4;
      await eventually(() => statements >= settled, 10_000);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('close', resolve));
    }
    expect(err).toBe('');
    const printed = out
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { seq: number }).seq);
    const denied = await broker.services.store.audit.query({ outcome: 'denied', order: 'asc', limit: 10_000 });
    expect(denied).toHaveLength(6 * 2);
    // Each denied row once, in seq order, none missing.
    expect(printed).toEqual(denied.map((row) => row.seq));
  });
});

describe('audit list --follow under free-running writers (SQLite)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker?.stop());

  it('four issuing loops while the built CLI follows: every seq once, in order, none missing', async () => {
    const token = await broker.agent('loop', 'demo:read');
    const child = spawn(process.execPath, [BIN, 'audit', 'list', '--follow', '--json', '--limit', '1', '--config', broker.configPath], {
      env: { PATH: process.env['PATH'], ...broker.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const seqs = () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { seq: number }).seq);
    try {
      await eventually(() => seqs().length > 0);
      const until = Date.now() + 1500;
      await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          while (Date.now() < until) await issue(broker.url, token, { backend: 'demo', scopes: [i % 2 ? 'read' : 'write'] });
        }),
      );
      const head = (await broker.services.store.audit.head())!.seq;
      await eventually(() => seqs().at(-1)! >= head);
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('close', resolve));
    }
    const printed = seqs();
    const first = printed[0]!;
    const head = (await broker.services.store.audit.head())!.seq;
    expect(printed).toEqual(Array.from({ length: head - first + 1 }, (_, i) => first + i));
  });
});
