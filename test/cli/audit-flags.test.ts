/**
 * The flags of `audit list` and `audit export` that an operator types: `--since` / `--until`
 * accept only what docs/audit.md promises (a duration with its unit, RFC 3339 with a zone, a
 * date as UTC midnight), never V8's legacy guesses, and never a reversed range; `--out` creates
 * a new file whole, replaces one only with `--force`, and never writes through a symlink.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTraffic } from '../audit/helpers.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker();
  await makeTraffic(broker, 4);
});
afterAll(async () => broker?.stop());

const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
const seqs = (stdout: string) => (JSON.parse(stdout) as Array<{ seq: number }>).map((row) => row.seq);

describe('--since / --until', () => {
  it.each([
    ['Dec 1', 'is not a time'], // V8: 2001-12-01
    ['foo 2020', 'is not a time'], // V8: 2020-01-01
    ['2026', 'is not a time'], // was 2026 seconds ago
    ['2026-02-30', 'is not a calendar date'], // V8: 2026-03-02
    ['2023-02-29', 'is not a calendar date'],
    ['2026-01-15T16:00:00', 'has no zone'], // V8: local time
    ['2026-01-15T24:00:00Z', 'is not a time of day'],
    ['2026-01-15T16:00:00+25:00', 'has an impossible zone offset'],
    ['1h30m', 'is not a time'],
    ['999999999w', 'is out of range'],
  ])('%j is a usage error naming the flag and the accepted forms', async (value, why) => {
    for (const flag of ['--since', '--until']) {
      const result = await op(['audit', 'list', flag, value]);
      expect(result.code, result.stdout).toBe(2);
      expect(result.stderr).toContain(`ERR_USAGE: ${flag}: "${value}" ${why}`);
      expect(result.stderr).toContain('RFC 3339 time with a zone');
    }
  });

  it('a reversed range is refused by audit list (also as relative times) and by audit export, which writes nothing', async () => {
    const list = await op(['audit', 'list', '--since', '1h', '--until', '2h']);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/ERR_USAGE: --since \(\S+\) is after --until \(\S+\): the range is empty/);
    const out = join(broker.dir, 'reversed.tar');
    const exported = await op(['audit', 'export', '--out', out, '--since', '2026-12-01T00:00:00Z', '--until', '2026-01-31']);
    expect(exported.code).toBe(2);
    expect(exported.stderr).toContain('--since (2026-12-01T00:00:00.000Z) is after --until (2026-01-31T00:00:00.000Z)');
    expect(existsSync(out)).toBe(false);
    const garbage = await op(['audit', 'export', '--out', out, '--until', 'Dec 31']);
    expect(garbage.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it('accepts a duration ago, RFC 3339 with Z or an offset, and a date as UTC midnight', async () => {
    const all = seqs((await op(['audit', 'list', '--json'])).stdout);
    const rows = await broker.services.store.audit.query({ order: 'asc', limit: 1000 });
    const first = rows[0]!;
    expect(seqs((await op(['audit', 'list', '--since', '1h', '--json'])).stdout)).toEqual(all);
    // One minute before and after the first row, written with a +05:30 offset.
    const shifted = (ms: number) => `${new Date(ms + 5.5 * 3_600_000).toISOString().slice(0, 19)}+05:30`;
    const before = await op(['audit', 'list', '--since', shifted(first.time - 60_000), '--json']);
    expect(before.code, before.stderr).toBe(0);
    expect(seqs(before.stdout)).toContain(first.seq);
    const after = await op(['audit', 'list', '--since', shifted(first.time + 60_000), '--json']);
    expect(seqs(after.stdout)).not.toContain(first.seq);
    // A date is the start of that day in UTC: every row of today is after it, none before.
    const today = new Date(first.time).toISOString().slice(0, 10);
    expect(seqs((await op(['audit', 'list', '--since', today, '--json'])).stdout)).toContain(first.seq);
    const untilToday = await op(['audit', 'list', '--until', today, '--json']);
    expect(untilToday.code, untilToday.stderr).toBe(0);
    expect(seqs(untilToday.stdout)).toEqual([]);
    // The export's signed manifest records the instants the flags named (--out -: the report goes to stderr).
    const exported = await op([
      'audit',
      'export',
      '--out',
      '-',
      '--since',
      '2026-01-15',
      '--until',
      '2026-01-15T17:00:00.250+01:00',
      '--json',
    ]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stderr).manifest.range).toEqual({ since: '2026-01-15T00:00:00.000Z', until: '2026-01-15T16:00:00.250Z' });
  });
});

describe('audit export --out', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('creates a new bundle 0600, and refuses to replace an existing file unless --force', async () => {
    const out = join(broker.dir, 'bundle.tar');
    const first = await op(['audit', 'export', '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    expect(mode(out)).toBe(0o600);
    writeFileSync(out, 'an old bundle, kept as evidence');
    const again = await op(['audit', 'export', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`ERR_USAGE: --out ${out}: the file exists; use --force to replace it`);
    expect(readFileSync(out, 'utf8')).toBe('an old bundle, kept as evidence');
    const forced = await op(['audit', 'export', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(out).subarray(0, 13).toString()).toBe('manifest.json');
    expect(mode(out)).toBe(0o600);
  });

  it('never writes through a symlink planted at --out, even with --force; leaves no temporary file', async () => {
    const victim = join(broker.dir, 'victim.txt');
    writeFileSync(victim, 'not yours', { mode: 0o644 });
    const link = join(broker.dir, 'planted.tar');
    symlinkSync(victim, link);
    const refused = await op(['audit', 'export', '--out', link]);
    expect(refused.code).toBe(2);
    expect(readFileSync(victim, 'utf8')).toBe('not yours');
    const forced = await op(['audit', 'export', '--out', link, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    // The name now holds the bundle; the file the link pointed to is as it was, mode included.
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(mode(link)).toBe(0o600);
    expect(readFileSync(victim, 'utf8')).toBe('not yours');
    expect(mode(victim)).toBe(0o644);
    // A dangling link (a file the attacker wants created) is refused too, and nothing is created.
    const target = join(broker.dir, 'would-be-created');
    const dangling = join(broker.dir, 'dangling.tar');
    symlinkSync(target, dangling);
    expect((await op(['audit', 'export', '--out', dangling])).code).toBe(2);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(broker.dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
