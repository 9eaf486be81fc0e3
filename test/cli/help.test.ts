import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandTree, runCli as runCliInProcess } from '../../src/cli/index.js';
import { walkCommands } from '../../src/cli/tree.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/setup.js';

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[`);

/** Runs the CLI in process with a stdout that says whether it is a terminal. */
async function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  let out = '';
  await runCliInProcess(args, { stdout: { write: (t: string) => (out += t), isTTY: true }, stderr: { write: () => true }, env });
  return out;
}

const hasShell = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
// CI installs zsh and fish (.ci/run): there a missing shell fails the test instead of skipping it.
const canRun = (name: string): boolean => hasShell(name) || process.env.CI === 'true';

describe('help and colour', () => {
  it('help into a pipe has no colour; on a terminal it does, unless NO_COLOR', async () => {
    const piped = await runCli(['get', '--help']);
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toMatch(ANSI);
    expect(piped.stdout).toContain('--format FORMAT');
    expect(await onTerminal(['get', '--help'])).toMatch(ANSI);
    expect(await onTerminal(['get', '--help'], { NO_COLOR: '1' })).not.toMatch(ANSI);
    expect(await onTerminal(['help'], { TERM: 'dumb' })).not.toMatch(ANSI);
    // An error about a command is plain text too.
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).not.toMatch(ANSI);
  });

  it('creddy help [COMMAND…] is the same as --help; an unknown command is a usage error', async () => {
    const viaHelp = await runCli(['help', 'agent', 'create']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe((await runCli(['agent', 'create', '--help'])).stdout);
    expect(viaHelp.stdout).toMatch(/^USAGE\n {2}creddy agent create \[OPTIONS\] NAME$/m);
    expect((await runCli(['help'])).stdout).toContain('COMMANDS');
    const unknown = await runCli(['help', 'agent', 'frob']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "agent frob"');
  });

  it('creddy version and --version print the package version', async () => {
    const { version } = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    expect((await runCli(['version'])).stdout).toBe(`${version}\n`);
    expect((await runCli(['--version'])).stdout).toBe(`${version}\n`);
    expect(JSON.parse((await runCli(['version', '--json'])).stdout)).toEqual({ version, node: process.versions.node });
  });

  it('every option states its default once', async () => {
    for (const { path, cmd } of walkCommands(await commandTree())) {
      for (const [name, def] of Object.entries(cmd.args ?? {})) {
        // A declared default is rendered by the help; the description must not repeat it.
        if ('default' in def && def.default !== undefined) expect(def.description, `${path.join(' ')} --${name}`).not.toMatch(/default/i);
      }
      const help = await runCli([...path, '--help']);
      for (const line of help.stdout.split('\n')) expect(line.match(/\bdefault\b/gi)?.length ?? 0, line).toBeLessThanOrEqual(1);
    }
    expect((await runCli(['get', '--help'])).stdout).toMatch(
      /--format FORMAT +Output: token\|json\|env\|credential-process \(default: token\)$/m,
    );
  });

  it('shows the --no- form of a flag that has one (get --no-cache, which the README names)', async () => {
    const help = (await runCli(['get', '--help'])).stdout;
    expect(help).toMatch(/^ {2}--cache +Reuse a credential/m);
    expect(help).toMatch(/^ {2}--no-cache +Neither read nor write the cache, even with CREDDY_CACHE=1$/m);
  });
});

describe('errors under --json', () => {
  it('are one JSON object on stderr with the code; stdout stays empty', async () => {
    const result = await runCli(['agent', 'frob', '--json']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toEqual({ error: { code: 'ERR_USAGE', message: expect.stringContaining('agent frob') } });
    const config = await runCli(['backend', 'list', '--json', '--config', '/nonexistent/creddy.yaml']);
    expect(config.code).toBe(1);
    expect(JSON.parse(config.stderr).error.code).toBe('ERR_CONFIG_INVALID');
  });
});

describe('creddy completion', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);
  const script = async (shell: string): Promise<string> => {
    const result = await runCli(['completion', shell]);
    expect(result.code).toBe(0);
    const path = join(dir, `creddy.${shell}`);
    writeFileSync(path, result.stdout);
    return path;
  };

  it('refuses an unknown shell', async () => {
    expect((await runCli(['completion', 'tcsh'])).code).toBe(2);
  });

  it('bash: the script parses, and completes commands, subcommands and options from the tree', async () => {
    const path = await script('bash');
    execFileSync('bash', ['-n', path]);
    const complete = (...words: string[]): string[] =>
      execFileSync('bash', ['-c', `source "$0"; _creddy_candidates "$@"`, path, ...words], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
    expect(complete('ag')).toEqual(['agent']);
    expect(complete('agent', '')).toEqual(['create', 'list', 'revoke', 'rotate-token', 'renew', 'grant', 'revoke-grant', 'key']);
    expect(complete('agent', 'create', 'bot', '--c')).toEqual(['--can', '--config']);
    expect(complete('keys', '--config', 'x.yaml', 'ro')).toEqual(['rotate']);
    expect(complete('verify', 'TOKEN', '--b')).toEqual(['--backend']);
    // After an option that takes a value: nothing, so bash completes file names.
    expect(complete('audit', 'export', '--out', '')).toEqual([]);
    expect(complete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });

  it.skipIf(!canRun('zsh'))('zsh: the script parses and completes from the tree', async () => {
    const path = await script('zsh');
    execFileSync('zsh', ['-n', path]);
    const out = execFileSync('zsh', ['-f', '-c', `compdef() { :; }; source "$0"; _creddy_candidates keys ''`, path], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual(['list', 'rotate', 'revoke', 'rewrap']);
  });

  it.skipIf(!canRun('fish'))('fish: the script parses and fish offers the commands', async () => {
    const path = await script('fish');
    execFileSync('fish', ['-n', path]);
    const out = execFileSync('fish', ['--no-config', '-c', `source $argv[1]; complete -C 'creddy keys ro'`, path], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual(['rotate']);
  });
});
