import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { rotateKeys } from '../../src/keys/rotate.js';
import { runCli } from '../helpers/cli.js';
import { onFakeTime, openServices, type TestServices, useFakeTimers } from '../helpers/harness.js';

/**
 * `creddy keys rotate` on a fresh install: the next key was published just now, so rotation is
 * possible only after publish_ahead (1 h by default). It fails at once saying when; `--wait`
 * waits with a countdown on a terminal and a line a minute otherwise; a rotation by another
 * process while it waits counts.
 */
describe('creddy keys rotate before the next key is ready', () => {
  let broker: TestServices;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);

  beforeAll(async () => {
    broker = await openServices();
  });
  afterAll(async () => broker.close());
  afterEach(() => void vi.useRealTimers());

  it('fails fast with ERR_NOT_YET and the time rotation becomes possible (exit 1; --json says it too)', async () => {
    const started = Date.now();
    const plain = await op(['keys', 'rotate']);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(
      /^creddy: ERR_NOT_YET: next key \S+ has been published for less than publish_ahead \(1h\); rotation is possible from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 1h \d+s\); --wait waits for it, --force rotates now\n$/,
    );
    const json = await op(['keys', 'rotate', '--json']);
    expect(json.code).toBe(1);
    const { error } = JSON.parse(json.stderr) as { error: { code: string; details: { ready_at: string; seconds_left: number } } };
    expect(error.code).toBe('ERR_NOT_YET');
    expect(Date.parse(error.details.ready_at) - started).toBeGreaterThan(3590_000);
    expect(error.details.seconds_left).toBeGreaterThan(3590);
    expect(Date.now() - started).toBeLessThan(30_000); // it did not wait
  });

  it('--wait off a terminal prints a line when it starts and one a minute, then rotates', async () => {
    await useFakeTimers(['Date', 'setTimeout', 'clearTimeout']);
    const lines: string[] = [];
    let stdout = '';
    const run = runCliInProcess(['keys', 'rotate', '--wait', '--json', '--config', broker.configPath], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => lines.push(t) },
      env: broker.env,
    });
    expect(await onFakeTime(run, 10_000)).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ rotated: true });
    // publish_ahead (1 h) + a few seconds of lag: a line at the start and one per minute.
    expect(lines.length).toBeGreaterThanOrEqual(60);
    expect(lines.length).toBeLessThanOrEqual(62);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines[0]).toMatch(/^creddy: rotation possible in 1:00:0\d \(next key \S+ signs from \S+Z\); --force skips the wait\n$/);
    expect(lines[1]).toMatch(/in 59:0\d /);
    expect(lines.at(-1)).toMatch(/in 0:0\d /);
  });

  it('--wait on a terminal rewrites one countdown line every second', async () => {
    await useFakeTimers(['Date', 'setTimeout', 'clearTimeout']);
    let stderr = '';
    const run = runCliInProcess(['keys', 'rotate', '--wait', '--config', broker.configPath], {
      stdout: { write: () => true },
      stderr: { write: (t: string) => (stderr += t), isTTY: true },
      env: broker.env,
    });
    expect(await onFakeTime(run, 20_000)).toBe(0);
    const frames = stderr.split('\r').filter(Boolean);
    expect(frames.length).toBeGreaterThan(3590);
    expect(stderr).not.toContain('\n');
    expect(frames.at(-1)).toBe('\u001B[K'); // the line is cleared when the wait is over
  });

  it('--wait counts a rotation another process made meanwhile ("rotated": false) instead of rotating again', async () => {
    await useFakeTimers(['Date', 'setTimeout', 'clearTimeout']);
    const retiredBefore = (await broker.services.store.keys.list()).filter((k) => k.state === 'retired').length;
    let stdout = '';
    let waiting!: () => void;
    const started = new Promise<void>((resolve) => (waiting = resolve));
    const run = runCliInProcess(['keys', 'rotate', '--wait', '--json', '--config', broker.configPath], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: () => waiting() },
      env: broker.env,
    });
    await onFakeTime(started, 10_000); // the CLI is counting down to the next key's ready time
    const other = await rotateKeys(broker.services, { actor: 'cli', force: true });
    expect(await onFakeTime(run, 10_000)).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ rotated: false, current: other.current, next: other.next, retired: null });
    const retiredAfter = (await broker.services.store.keys.list()).filter((k) => k.state === 'retired').length;
    expect(retiredAfter - retiredBefore).toBe(1); // the other process's rotation, and no second one
  });
});
