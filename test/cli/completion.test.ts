/**
 * Completion offers every `--no-X` help shows (`get --no-cache`): citty reads the negated form of
 * a boolean, but it is no arg of its own in the command tree the scripts are generated from.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { completionSpecs } from '../../src/cli/completion.js';
import { commandTree } from '../../src/cli/index.js';
import { walkCommands } from '../../src/cli/tree.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/setup.js';

const hasShell = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
// CI installs zsh and fish (.ci/run): there a missing shell fails the test instead of skipping it.
const canRun = (name: string): boolean => hasShell(name) || process.env.CI === 'true';

describe('completion of negated flags', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);
  const script = async (shell: string): Promise<string> => {
    const result = await runCli(['completion', shell]);
    expect(result.code).toBe(0);
    const path = join(dir, `creddy.${shell}`);
    writeFileSync(path, result.stdout);
    return path;
  };

  it('every --no-X a command help shows is among the options completed for that command', async () => {
    const tree = await commandTree();
    const specs = new Map(completionSpecs(tree).map((s) => [s.path, s]));
    let shown = 0;
    for (const { path } of walkCommands(tree)) {
      const help = await runCli([...path, '--help']);
      expect(help.code, path.join(' ')).toBe(0);
      const negated = [...new Set(help.stdout.match(/--no-[a-z][a-z0-9-]*/g) ?? [])];
      shown += negated.length;
      const spec = specs.get(path.join(' '));
      for (const flag of negated) expect(spec?.options, `${path.join(' ')} ${flag}`).toContain(flag);
      // A switch: no value follows it, so the next word is completed as a word again.
      for (const flag of negated) expect(spec?.valued).not.toContain(flag);
    }
    expect(shown).toBeGreaterThan(0);
    expect(specs.get('get')?.options).toContain('--no-cache');
  });

  it('bash offers get --no-cache', async () => {
    const path = await script('bash');
    const complete = (...words: string[]): string[] =>
      execFileSync('bash', ['-c', `source "$0"; _creddy_candidates "$@"`, path, ...words], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    expect(complete('get', '--no')).toEqual(['--no-cache']);
    // After it, the walk goes on: the next word is not taken as its value.
    expect(complete('get', '--no-cache', '--f')).toEqual(['--format']);
  });

  it.skipIf(!canRun('zsh'))('zsh offers get --no-cache', async () => {
    const path = await script('zsh');
    const out = execFileSync('zsh', ['-f', '-c', `compdef() { :; }; source "$0"; _creddy_candidates get --no`, path], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual(['--no-cache']);
  });

  it.skipIf(!canRun('fish'))('fish offers get --no-cache', async () => {
    const path = await script('fish');
    const out = execFileSync('fish', ['--no-config', '-c', `source $argv[1]; complete -C 'creddy get --no'`, path], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual(['--no-cache']);
  });
});
