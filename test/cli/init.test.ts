import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';

const mode = (path: string) => statSync(path).mode & 0o777;

/** `creddy init` touches only what it creates (issue 14): `npm start` runs it in the repository root. */
describe('creddy init', () => {
  let tmp: ReturnType<typeof tempDir>;
  afterEach(() => tmp.cleanup());

  it('leaves the directory it runs in as it was, and makes its own files private', async () => {
    tmp = tempDir('creddy-init-');
    const repo = join(tmp.dir, 'repo');
    mkdirSync(repo);
    chmodSync(repo, 0o755);
    const r = await runCli(['init', '--dir', repo, '--port', '8411'], {});
    expect(r.code, r.stderr).toBe(0);
    expect(mode(repo)).toBe(0o755);
    expect(mode(join(repo, 'data'))).toBe(0o700);
    expect(mode(join(repo, 'creddy.yaml'))).toBe(0o600);
    expect(readFileSync(join(repo, 'creddy.yaml'), 'utf8')).toContain('listen: 127.0.0.1:8411');
  });

  it('an existing data dir keeps its mode too; a missing target dir is created private', async () => {
    tmp = tempDir('creddy-init-');
    const repo = join(tmp.dir, 'repo');
    mkdirSync(join(repo, 'data'), { recursive: true });
    chmodSync(join(repo, 'data'), 0o750);
    expect((await runCli(['init', '--dir', repo], {})).code).toBe(0);
    expect(mode(join(repo, 'data'))).toBe(0o750);

    const fresh = join(tmp.dir, 'new', 'place');
    expect((await runCli(['init', '--dir', fresh], {})).code).toBe(0);
    expect(mode(fresh)).toBe(0o700);
  });

  it('refuses an existing creddy.yaml without --force; --force replaces a symlink there, never the file it points to', async () => {
    tmp = tempDir('creddy-init-');
    const elsewhere = join(tmp.dir, 'elsewhere.yaml');
    writeFileSync(elsewhere, 'mine\n', { mode: 0o644 });
    const repo = join(tmp.dir, 'repo');
    mkdirSync(repo);
    symlinkSync(elsewhere, join(repo, 'creddy.yaml'));
    const refused = await runCli(['init', '--dir', repo], {});
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('exists; use --force to overwrite');
    const forced = await runCli(['init', '--dir', repo, '--force'], {});
    expect(forced.code, forced.stderr).toBe(0);
    expect(lstatSync(join(repo, 'creddy.yaml')).isSymbolicLink()).toBe(false);
    expect(mode(join(repo, 'creddy.yaml'))).toBe(0o600);
    expect(readFileSync(elsewhere, 'utf8')).toBe('mine\n');
    expect(mode(elsewhere)).toBe(0o644);
  });
});
