import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { makeTraffic } from '../audit/helpers.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

describe('audit commands an operator scripts', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
    await makeTraffic(broker, 4);
    await broker.services.auditCheckpoints.checkpointNow();
  });
  afterAll(async () => broker.stop());

  it('audit export --out - writes the bundle to stdout (no file named "-"); the summary goes to stderr', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'creddy-export-'));
    const chunks: Buffer[] = [];
    let stderr = '';
    const code = await runCliInProcess(['audit', 'export', '--out', '-', '--config', broker.configPath], {
      stdout: { write: (c: string | Uint8Array) => chunks.push(Buffer.from(c)) },
      stderr: { write: (t: string | Uint8Array) => (stderr += String(t)) },
      env: broker.env,
      cwd,
    });
    expect(code, stderr).toBe(0);
    expect(existsSync(join(cwd, '-'))).toBe(false);
    expect(stderr).toMatch(/^wrote the bundle to standard output: \d+ events/);
    const bundle = join(cwd, 'piped.tar');
    writeFileSync(bundle, Buffer.concat(chunks));
    const verified = await runCli(['audit', 'verify', '--bundle', bundle, '--json'], { CREDDY_AUDIT_KEY: broker.env['CREDDY_AUDIT_KEY'] });
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, chain: { hmac: 'verified' } });
  });

  it("audit list shows a caller's escape sequences as text, never sends them to the terminal", async () => {
    const token = await broker.agent('painter', 'demo:read');
    const hostile = '\u001b[2J\u001b[31mFAKE\u001b[0m\u202e';
    const denied = await issue(broker.url, token, { backend: 'demo', scopes: [hostile] });
    expect(denied.status).toBe(400);
    const result = await runCli(['audit', 'list', '--agent', 'painter', '--config', broker.configPath], broker.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.includes('\u001b') || result.stdout.includes('\u202e')).toBe(false);
    expect(result.stdout).toContain('\\x1b[2J\\x1b[31mFAKE\\x1b[0m\\u202e');
    // --json keeps the value exactly for scripts, every character a terminal acts on escaped.
    const json = await runCli(['audit', 'list', '--agent', 'painter', '--json', '--config', broker.configPath], broker.env);
    expect(json.stdout.includes('\u001b') || json.stdout.includes('\u202e')).toBe(false);
    const [row] = JSON.parse(json.stdout) as Array<{ details: { scope?: string } }>;
    expect(row?.details.scope).toBe(hostile);
  });

  it('audit list --type with a type no row can have is a usage error naming the types, not an empty log', async () => {
    const typo = await runCli(['audit', 'list', '--type', 'credential.isued', '--config', broker.configPath], broker.env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('--type must be one of credential.issued, credential.denied');
  });

  it('audit prune without audit.retention is a config error (exit 1, ERR_CONFIG_INVALID), not a usage error', async () => {
    const result = await runCli(['audit', 'prune', '--config', broker.configPath], broker.env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ERR_CONFIG_INVALID: audit.retention is not set in ${broker.configPath}`);
    const json = await runCli(['audit', 'prune', '--json', '--config', broker.configPath], broker.env);
    expect(JSON.parse(json.stderr).error.code).toBe('ERR_CONFIG_INVALID');
  });
});
