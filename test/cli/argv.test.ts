import type { ArgsDef } from 'citty';
import { describe, expect, it } from 'vitest';
import { normalizeArgv } from '../../src/cli/argv.js';
import { isCreddyError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, testEnv } from '../helpers/harness.js';

/** Arguments made unambiguous before citty parses them: ids that start with `-` (1 in 64 do). */
const revokeArgs: ArgsDef = {
  kid: { type: 'positional', required: true },
  force: { type: 'boolean' },
  config: { type: 'string' },
  json: { type: 'boolean' },
};
const listArgs: ArgsDef = { jti: { type: 'string' }, limit: { type: 'string', alias: ['n'] }, json: { type: 'boolean' } };
const KID = '-bC9fX0eQk2Jm4yRZ1hLwq3sVn8tUaPdGo5iEc7KxYz'; // 43 chars, like an RFC 7638 thumbprint
const JTI = '-Ab3dEf6hIj9kLm2oPq5sT'; // 22 chars, like a credential id

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isCreddyError(err, 'ERR_USAGE')) return err.message;
    throw err;
  }
  throw new Error('expected a usage error');
}

describe('normalizeArgv', () => {
  it('takes a kid or credential id that starts with - as the positional, before or after options', () => {
    expect(normalizeArgv(revokeArgs, [KID, '--config', 'c.yaml'], null)).toEqual(['--config=c.yaml', '--', KID]);
    expect(normalizeArgv(revokeArgs, ['--force', JTI, '--json'], null)).toEqual(['--force', '--json', '--', JTI]);
  });

  it('gives a string option its value even when the value starts with -', () => {
    expect(normalizeArgv(listArgs, ['--jti', JTI, '--json'], null)).toEqual(['--json', `--jti=${JTI}`]);
    expect(normalizeArgv(listArgs, ['--jti', '-x'], null)).toEqual(['--jti=-x']);
    expect(normalizeArgv(listArgs, [`--jti=${JTI}`], null)).toEqual([`--jti=${JTI}`]);
    expect(normalizeArgv(listArgs, ['-n', '5'], null)).toEqual(['--limit=5']);
  });

  it('joins a repeated list option and refuses any other option given twice', () => {
    const getArgs: ArgsDef = { meta: { type: 'string' }, ttl: { type: 'string' } };
    expect(normalizeArgv(getArgs, ['--meta', 'a=1', '--meta=b=2'], null)).toEqual(['--meta=a=1,b=2']);
    expect(usageError(() => normalizeArgv(getArgs, ['--ttl', '10m', '--ttl', '1h'], null))).toBe('--ttl given twice');
  });

  it('refuses a missing value rather than swallowing the next option', () => {
    expect(usageError(() => normalizeArgv(listArgs, ['--jti', '--json'], null))).toBe('--jti needs a value');
    expect(usageError(() => normalizeArgv(listArgs, ['--jti'], null))).toBe('--jti needs a value');
  });

  it('names an unknown option or a surplus argument instead of guessing', () => {
    expect(usageError(() => normalizeArgv(listArgs, ['--bogus'], null))).toBe('unknown option --bogus');
    expect(usageError(() => normalizeArgv(revokeArgs, ['-c0ab'], null))).toContain(
      'unknown option -c0ab (to pass a value that starts with -, put it after --)',
    );
    // An id-shaped word is an option error once the positional is filled.
    expect(usageError(() => normalizeArgv(revokeArgs, ['abc', KID], null))).toContain(`unknown option ${KID}`);
    expect(usageError(() => normalizeArgv(revokeArgs, ['a', 'b'], null))).toBe('unexpected argument b');
    // Only id positionals take an id-shaped word: a mistyped long option is not an agent name.
    const agentArgs: ArgsDef = { name: { type: 'positional', required: true } };
    expect(usageError(() => normalizeArgv(agentArgs, ['--force-revoke-current'], null))).toContain('unknown option --force-revoke-current');
  });

  it("takes positionals after the user's --, and counts them", () => {
    expect(normalizeArgv(revokeArgs, ['--json'], [KID])).toEqual(['--json', '--', KID]);
    expect(usageError(() => normalizeArgv(revokeArgs, ['a'], ['b']))).toBe('unexpected argument b');
  });

  it("keeps a passthrough command's child command behind its -- and its positionals in front", () => {
    const execArgs: ArgsDef = { backend: { type: 'positional', required: true }, ttl: { type: 'string' } };
    const exec = (words: string[], rest: string[] | null) => normalizeArgv(execArgs, words, rest, { passthrough: true });
    expect(exec(['aws', '--ttl', '15m'], ['aws', '--region', 'x'])).toEqual(['--ttl=15m', 'aws', '--', 'aws', '--region', 'x']);
    // No -- of its own: nothing may become the child command.
    expect(exec(['aws'], null)).toEqual(['aws']);
    expect(usageError(() => exec([JTI], ['true']))).toBe(`unknown option ${JTI}`);
    // `creddy exec -- true`: the child command is not the backend.
    expect(usageError(() => exec([], ['true']))).toBe('missing BACKEND before --');
  });
});

describe('creddy with ids that start with -', () => {
  it('keys revoke reaches the store with the kid as given, and options after it still apply', async () => {
    const tmp = tempDir();
    try {
      const env = testEnv();
      expect((await runCli(['init', '--dir', tmp.dir], env)).code).toBe(0);
      const config = `${tmp.dir}/creddy.yaml`;
      // The deployment's first command makes its store; `keys revoke` then works on it.
      expect((await runCli(['agent', 'create', 'first', '--can', 'demo:read', '--config', config], env)).code).toBe(0);
      const revoked = await runCli(['keys', 'revoke', KID, '--config', config], env);
      expect(revoked.code).toBe(1);
      expect(revoked.stderr).toContain(`ERR_KEY_UNKNOWN: no signing key with kid ${KID}`);
      const listed = await runCli(['audit', 'list', '--jti', JTI, '--json', '--config', config], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([]);
      const bogus = await runCli(['keys', 'list', '--bogus', '--config', config], env);
      expect(bogus.code).toBe(2);
      expect(bogus.stderr).toContain('unknown option --bogus');
    } finally {
      tmp.cleanup();
    }
  });
});
