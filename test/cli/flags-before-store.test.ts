/**
 * A bad flag is reported as a bad flag (ERR_USAGE, exit 2) before the store is opened: not as a
 * missing database (the operator fixes the wrong thing first), and never after a command that may
 * start a deployment (`agent create`, `secret put`) has created an empty store with a dev KEK.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';

describe('flags are checked before the store is opened', () => {
  const tmp = tempDir();
  const configPath = join(tmp.dir, 'creddy.yaml');
  const dbFile = join(tmp.dir, 'data', 'creddy.db');
  writeFileSync(configPath, demoYaml({ dataDir: join(tmp.dir, 'data') }));
  const existing = join(tmp.dir, 'earlier.tar');
  writeFileSync(existing, 'an earlier bundle');
  const env = testEnv({ SECRET_VALUE: 's3cret-value' });
  afterAll(() => tmp.cleanup());

  it.each([
    [['audit', 'list', '--since', 'garbage'], 'ERR_USAGE: --since: "garbage" is not a time'],
    [['audit', 'list', '--until', '2026-02-30'], 'ERR_USAGE: --until: "2026-02-30" is not a calendar date'],
    [['audit', 'list', '--since', '1h', '--until', '2h'], 'ERR_USAGE: --since ('],
    [['audit', 'list', '--limit', '0'], 'ERR_USAGE: --limit must be 1-10000'],
    [['audit', 'list', '--type', 'credential.isued'], 'ERR_USAGE: --type must be one of'],
    [['audit', 'export', '--out', join(tmp.dir, 'new.tar'), '--since', 'Dec 1'], 'ERR_USAGE: --since: "Dec 1" is not a time'],
    [['audit', 'export', '--out', existing], 'ERR_USAGE'],
    [['agent', 'create', 'bot', '--can', 'nope:read'], 'no backend named "nope"'],
    [['agent', 'create', 'bot', '--can', 'demo:read', '--expires', 'soon'], 'ERR_USAGE: --expires: invalid duration "soon"'],
    [['agent', 'grant', 'bot', '--can', 'nope:read'], 'no backend named "nope"'],
    [['agent', 'revoke-grant', 'bot', '--can', 'demo'], 'ERR_USAGE: grant "demo" must be BACKEND:SCOPE'],
    [['agent', 'renew', 'bot', '--expires', 'soon'], 'ERR_USAGE: --expires: invalid duration "soon"'],
    [['agent', 'rotate-token', 'bot', '--expires', '0s'], 'ERR_USAGE: --expires: invalid duration "0s"'],
    [['secret', 'put', '../escape', '--from-env', 'SECRET_VALUE'], 'ERR_USAGE'],
    [['secret', 'rotate', '../escape', '--from-env', 'SECRET_VALUE'], 'ERR_USAGE'],
  ])('%j: ERR_USAGE, with no database there, and none created', async (args, message) => {
    const result = await runCli([...args, '--config', configPath], env);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('no database at');
    expect(result.code, result.stderr).toBe(2);
    expect(existsSync(dbFile)).toBe(false);
    expect(existsSync(join(tmp.dir, 'data', 'kek'))).toBe(false);
  });

  it('audit prune without audit.retention says so, not that the database is missing', async () => {
    const result = await runCli(['audit', 'prune', '--config', configPath], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ERR_CONFIG_INVALID: audit.retention is not set');
    expect(existsSync(dbFile)).toBe(false);
  });
});
