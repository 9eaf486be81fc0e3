import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { BIN, runCli } from '../helpers/cli.js';
import { eventually, issue, startBroker, type TestBroker, useFakeTimers } from '../helpers/harness.js';
import { checkpointsEvery } from './helpers.js';

describe('audit list filters and --follow', () => {
  let broker: TestBroker;
  let token: string;
  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(1000) });
    token = await broker.agent('lister', 'demo:read');
    await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
  });
  afterAll(async () => broker?.stop());

  it('--jti and --outcome narrow the result', async () => {
    const issued = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    const byJti = await runCli(['audit', 'list', '--jti', issued.body.id, '--json', '--config', broker.configPath], broker.env);
    expect(JSON.parse(byJti.stdout).map((r: { jti: string }) => r.jti)).toEqual([issued.body.id]);
    const denied = await runCli(
      ['audit', 'list', '--outcome', 'denied', '--since', '1h', '--backend', 'demo', '--json', '--config', broker.configPath],
      broker.env,
    );
    const rows = JSON.parse(denied.stdout) as Array<{ outcome: string; reason: string }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'denied', reason: 'ERR_SCOPE_DENIED' });
    const bad = await runCli(['audit', 'list', '--outcome', 'maybe', '--config', broker.configPath], broker.env);
    expect(bad.code).toBe(2);
  });

  it('--follow prints new events as they are written', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'audit', 'list', '--follow', '--json', '--type', 'credential.issued', '--limit', '1', '--config', broker.configPath],
      {
        env: { PATH: process.env['PATH'], ...broker.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const seen = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => out.split('\n').filter(Boolean).length >= n && resolve();
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          check();
        });
        check();
      });
    try {
      await seen(1);
      const next = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
      await seen(2);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { jti: string; type: string });
      expect(lines.at(-1)).toMatchObject({ jti: next.body.id, type: 'credential.issued' });
      expect(lines.every((l) => l.type === 'credential.issued')).toBe(true);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });

  it('--follow as text: one header, and rows printed apart line up under it', async () => {
    const child = spawn(process.execPath, [BIN, 'audit', 'list', '--follow', '--limit', '1', '--config', broker.configPath], {
      env: { PATH: process.env['PATH'], ...broker.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(() => out.split('\n').filter(Boolean).length >= 2);
      const next = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
      await eventually(() => out.includes(next.body.id));
      const [header, ...rows] = out.trim().split('\n');
      expect(header).toMatch(/^SEQ\s+TIME\s+TYPE\s+OUTCOME/);
      expect(rows.some((r) => r.startsWith('SEQ'))).toBe(false);
      // Each column starts where its header does, in the first poll's row and in the later one.
      for (const column of ['TYPE', 'OUTCOME', 'JTI']) {
        const at = header!.indexOf(column);
        for (const row of rows) expect(row[at - 1], `${column} in ${row}`).toBe(' ');
      }
      expect(rows.at(-1)!.slice(header!.indexOf('JTI'))).toBe(next.body.id);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });
});

describe('checkpoints', () => {
  it('every N rows and on shutdown', async () => {
    const broker = await startBroker({ extra: checkpointsEvery(3) });
    const { store } = broker.services;
    const token = await broker.agent('cp', 'demo:read');
    for (let i = 0; i < 7; i++) await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    // Row-count checkpoints are written in the background right after a commit.
    await eventually(async () => (await store.audit.checkpoints()).length > 0);
    const head = (await store.audit.head())!;
    await broker.stopServer();
    // After shutdown the latest checkpoint vouches for the last row.
    const reopened = createSqliteStore(`${broker.dir}/data/creddy.db`);
    expect((await reopened.audit.checkpoints()).at(-1)).toMatchObject({ seq: head.seq, hash: head.hash });
    await reopened.close();
    const verify = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(verify.code, verify.stderr).toBe(0);
    await broker.stop();
  });
});

describe('checkpoints by time', () => {
  it('every checkpoint_interval once rows were added (CLI rows included)', async () => {
    // The checkpoint timer is fake: the test fires it.
    await useFakeTimers(['setInterval', 'clearInterval']);
    const broker = await startBroker({ extra: 'audit:\n  checkpoint_every: 100000\n  checkpoint_interval: 1m' });
    try {
      const { store } = broker.services;
      const before = (await store.audit.checkpoints()).length;
      const cli = await runCli(['agent', 'create', 'timed', '--can', 'demo:read', '--config', broker.configPath], broker.env);
      expect(cli.code, cli.stderr).toBe(0);
      const head = (await store.audit.head())!;
      await vi.advanceTimersByTimeAsync(59_000);
      expect(await store.audit.checkpoints()).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1_000);
      await eventually(async () => (await store.audit.checkpoints()).at(-1)?.seq === head.seq);
      expect((await store.audit.checkpoints()).at(-1)).toMatchObject({ seq: head.seq, hash: head.hash });
    } finally {
      vi.useRealTimers();
      await broker.stop();
    }
  });
});

describe('audit config', () => {
  const parse = (audit: string) => parseConfig(`data_dir: /tmp/x\naudit:\n${audit}\n`, '/tmp/creddy.yaml', {});
  it('reads checkpoint_every, checkpoint_interval, retention, write_timeout', () => {
    expect(parse('  checkpoint_every: 50\n  checkpoint_interval: 30s\n  retention: 365d\n  write_timeout: 3s').audit).toEqual({
      writeTimeout: 3,
      checkpointEvery: 50,
      checkpointInterval: 30,
      retention: 365 * 86_400,
      witness: { file: null, url: null },
    });
    expect(parse('  write_timeout: 2s').audit).toMatchObject({ checkpointEvery: 1000, checkpointInterval: 60, retention: null });
  });
  it('names the key path of a bad value', () => {
    expect(() => parse('  checkpoint_every: 0')).toThrow(/audit\.checkpoint_every/);
    expect(() => parse('  retention: forever')).toThrow(/audit\.retention/);
    expect(() => parse('  checkpoint_interval: 0')).toThrow(/audit\.checkpoint_interval/);
    expect(() => parse('  retension: 1d')).toThrow(/audit\.retension/);
  });
});
