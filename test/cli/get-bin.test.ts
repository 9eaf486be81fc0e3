/**
 * `creddy get` through the installed bin runs from its own CommonJS bundle (`dist/cli/get.cjs`,
 * built from src/cli/get-main.ts; the bin is src/creddy.cts). It is the same command run by the
 * same code as `runCli`, only loaded differently, so each answer here — stdout, stderr, exit code —
 * must be the one the in-process CLI gives, with only what differs per issuance (token, ids,
 * request ids, times) masked. bench/cli-startup.mjs measures why the bundle exists.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliResult, runBin, runCli, runProcess } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** What differs between two issuances: tokens, ids, key thumbprints, times. */
function masked(r: CliResult): CliResult {
  const mask = (text: string) =>
    text
      .replace(/[A-Za-z0-9_-]{16,}(\.[A-Za-z0-9_-]{16,}){0,2}/g, '<id>')
      // The broker's request id of an error (12 characters), in the line and in --json.
      .replace(/\(request id [^)\s]+\)/g, '(request id <id>)')
      .replace(/"request_id":"[^"]+"/g, '"request_id":"<id>"')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
      .replace(/\b1\d{9}\b/g, '<epoch>')
      // `expires in 14m59s` against `15m`: a second may pass between the two runs.
      .replace(/\b\d+m(\d+s)?\b/g, '<duration>');
  return { code: r.code, stdout: mask(r.stdout), stderr: mask(r.stderr) };
}

let broker: TestBroker;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  broker = await startBroker();
  env = { CREDDY_URL: broker.url, CREDDY_TOKEN: await broker.agent('bundled', 'demo:read') };
});
afterAll(async () => broker?.stop());

describe('creddy get from the bundled entry', () => {
  it('is the bin that package.json installs, and `get` there loads the bundle, not main.js', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(resolve(ROOT, manifest.bin['creddy']!)).toBe(BIN);
    expect(readFileSync(BIN, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('answers every request as runCli does: token, formats, refusals, usage errors, --json errors', async () => {
    const cases: string[][] = [
      ['get', 'demo'],
      ['get', 'demo', '--scopes', 'read', '--ttl', '5m', '--format', 'json'],
      ['get', 'demo', '--format', 'env'],
      ['get', 'demo', '--json'],
      ['get', 'nosuch'],
      ['get', 'demo', '--scopes', 'write'],
      ['get', 'demo', '--scopes', 'write', '--json'],
      ['get', 'demo', '--ttl', 'soon'],
      ['get', 'demo', '--format', 'yaml'],
      ['get'],
      ['get', 'demo', '--bogus'],
      ['get', 'demo', 'extra'],
      ['get', '--debug', 'nosuch'],
    ];
    for (const args of cases) {
      const [bundled, inProcess] = await Promise.all([runBin(args, env), runCli(args, env)]);
      // The stack of --debug names different files; its first line is the error's.
      const firstLines = (r: CliResult) => (args.includes('--debug') ? { ...r, stderr: r.stderr.split('\n')[0]! } : r);
      expect(firstLines(masked(bundled)), args.join(' ')).toEqual(firstLines(masked(inProcess)));
    }
    const token = (await runBin(['get', 'demo'], env)).stdout.trim();
    expect(decodeJwt(token)).toMatchObject({ sub: 'bundled', scope: 'read', aud: 'demo' });
  });

  it('without CREDDY_URL or a credential, says so as runCli does', async () => {
    for (const partial of [{}, { CREDDY_URL: broker.url }]) {
      const [bundled, inProcess] = await Promise.all([runBin(['get', 'demo'], partial), runCli(['get', 'demo'], partial)]);
      expect(bundled).toEqual(inProcess);
      expect(bundled.code).toBe(2);
    }
  });

  it('a key-pair agent signs its assertion with @noble/ed25519, which the bundle imports on first use', async () => {
    const keyFile = join(broker.dir, 'bundled-kp.pem');
    const created = await runCli(
      ['agent', 'create', 'bundled-kp', '--can', 'demo:read', '--generate-key', keyFile, '--config', broker.configPath],
      broker.env,
    );
    expect(created.code, created.stderr).toBe(0);
    const keyEnv = {
      CREDDY_URL: broker.url,
      CREDDY_ISSUER: broker.services.config.issuer,
      CREDDY_AGENT: 'bundled-kp',
      CREDDY_AGENT_KEY_FILE: keyFile,
    };
    const r = await runBin(['get', 'demo'], keyEnv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(decodeJwt(r.stdout.trim())).toMatchObject({ sub: 'bundled-kp' });
  });

  it('a build without the bundle (tsc alone) runs get through main.js, with the same answer', async () => {
    // The bin beside main.js, with no cli/get.cjs next to it.
    const dir = mkdtempSync(join(tmpdir(), 'creddy-nobundle-'));
    try {
      copyFileSync(BIN, join(dir, 'creddy.cjs'));
      symlinkSync(join(ROOT, 'dist/main.js'), join(dir, 'main.js'));
      const r = await runProcess(process.execPath, [join(dir, 'creddy.cjs'), 'get', 'demo'], { PATH: process.env['PATH'], ...env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(decodeJwt(r.stdout.trim())).toMatchObject({ sub: 'bundled' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('help and `--` go to the full CLI, which owns the usage text', async () => {
    for (const args of [
      ['get', '--help'],
      ['get', '-h'],
      ['get', 'demo', '--', 'x'],
    ]) {
      const [bundled, inProcess] = await Promise.all([runBin(args, env), runCli(args, env)]);
      expect(bundled, args.join(' ')).toEqual(inProcess);
    }
  });

  it('a reader that closes the pipe before the token arrives ends get quietly, exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'get', 'demo'], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('the bundle requires only Node built-ins, and @noble/ed25519 by import(): citty and creddy are inside it', () => {
    const bundle = readFileSync(join(ROOT, 'dist/cli/get.cjs'), 'utf8');
    const specifiers = [...bundle.matchAll(/\b(?:require|import)\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
    expect(specifiers.filter((s) => !s.startsWith('node:') && s !== '@noble/ed25519')).toEqual([]);
    expect(bundle).toMatch(/import\("@noble\/ed25519"\)/);
  });
});
