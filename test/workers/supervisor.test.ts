/**
 * The primary of `creddy server --workers`: restarts a crashed worker with backoff, gives up
 * (exit 1) when workers keep crashing, fails at once when a worker cannot start, and refuses a
 * malformed --workers.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWorkers } from '../../src/cli/workers.js';
import { isCreddyError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/harness.js';
import { fromEveryWorker, issue, startWorkers, type WorkerSet } from './harness.js';

const messages = (set: WorkerSet, msg: string) => set.log.filter((l) => l['msg'] === msg);

describe('the primary supervises its workers', () => {
  // One primary for the first two tests, which follow each other: the restart after a SIGKILL,
  // then crashes until it gives up. Its crash window (60 s) holds them all, so the restart delays
  // run on from the first test's 250 ms, and it stops at the fifth crash as a fresh one would.
  let set: WorkerSet | undefined;
  afterAll(async () => {
    await set?.cleanup();
  });

  it('restarts a worker killed with SIGKILL after a backoff; the other serves meanwhile', async () => {
    set = await startWorkers('sqlite');
    const token = await set.agent('caller', 'demo:read');
    const [victim, survivor] = set.workerPids() as [number, number];
    process.kill(victim, 'SIGKILL');
    await eventually(() => messages(set!, 'restarting worker').length === 1, 10_000);
    // Until its replacement listens, the survivor takes every connection.
    const meanwhile = await issue(set.url, token);
    expect(meanwhile.status).toBe(201);
    await eventually(() => messages(set!, 'worker restarted').length === 1, 20_000);
    const exited = messages(set, 'worker exited')[0]!;
    expect(exited).toMatchObject({ worker_pid: victim, signal: 'SIGKILL' });
    expect(messages(set, 'restarting worker')[0]).toMatchObject({ in_ms: 250 });
    const replacement = set.workerPids()[2]!;
    expect([victim, survivor]).not.toContain(replacement);
    await fromEveryWorker(
      [survivor, replacement],
      () => issue(set!.url, token),
      (a) => a.status === 201,
    );
  });

  it('exits 1 once workers keep crashing, after draining the one still serving', async () => {
    if (!set) throw new Error('needs the workers of the test before');
    const [, survivor, replacement] = set.workerPids() as [number, number, number];
    // Every replacement now fails at start-up: the config it reads is broken.
    writeFileSync(set.configPath, 'backends: [\n');
    process.kill(replacement, 'SIGKILL');
    expect(await set.exited).toBe(1);
    // The first test's crash, this kill, then three replacements that could not start.
    expect(messages(set, 'restarting worker').map((l) => l['in_ms'])).toEqual([250, 500, 1000, 2000]);
    expect(messages(set, 'worker exited')).toHaveLength(5);
    expect(messages(set, 'workers keep crashing; stopping')).toHaveLength(1);
    expect(messages(set, 'worker stopped')).toEqual([expect.objectContaining({ worker_pid: survivor, code: 0 })]);
    expect(set.log.some((l) => /creddy: ERR_INTERNAL: workers keep crashing/.test(String(l['text'])))).toBe(true);
  }, 90_000);

  it('fails at once, without restarts, when a worker cannot start (the port is taken)', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const failed = (await startWorkers('sqlite', { args: ['--listen', `127.0.0.1:${port}`] }).catch((e: unknown) => e)) as Error;
      expect(failed.message).toMatch(/primary exited \(1\) before listening/);
      expect(failed.message).toMatch(/before every worker was listening/);
      expect(failed.message).not.toMatch(/restarting worker/);
    } finally {
      taken.close();
    }
  });

  it('--workers takes a number from 1 to 1024 or auto', async () => {
    expect(parseWorkers(undefined)).toBe(1);
    expect(parseWorkers('3')).toBe(3);
    expect(parseWorkers('auto')).toBe(availableParallelism());
    for (const bad of ['0', '-1', '1.5', 'two', '1025', ' 2']) {
      let err: unknown;
      try {
        parseWorkers(bad);
      } catch (e) {
        err = e;
      }
      expect(isCreddyError(err, 'ERR_USAGE'), bad).toBe(true);
    }
    const r = await runCli(['server', '--workers', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workers/);
  });
});
