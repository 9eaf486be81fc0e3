import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The README's quick-start blocks: the first sets up and runs the broker, the second uses it. */
function quickStartBlocks(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /## Quick start\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  const blocks = [...section.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
  if (blocks.length < 2) throw new Error('README.md ## Quick start needs its two code blocks');
  return blocks;
}
const quickStartCommands = (): string[] => quickStartBlocks()[0]!;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

describe('README quick start, as a new user runs it', () => {
  const { dir, cleanup } = tempDir('creddy-quickstart-');
  let server: ChildProcess;
  let url: string;
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ CREDDY_CONFIG: join(dir, 'creddy.yaml'), ...extra });

  beforeAll(async () => {
    const [setup, test] = quickStartCommands();
    expect(setup).toMatch(/^npm ci && npm start$/);
    expect(test).toBe('npm test');
    // A checkout with dependencies already installed: link them instead of reinstalling.
    for (const name of ['node_modules', 'src', 'tsconfig.json', 'tsconfig.build.json']) symlinkSync(join(ROOT, name), join(dir, name));
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // Its own process group: npm runs the server as a grandchild, and SIGTERM to npm alone would
    // leave that server running after the test.
    server = spawn('npm', ['start'], {
      cwd: dir,
      env: { ...process.env, CREDDY_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`server did not start:\n${out}`)), 150_000);
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('creddy listening on')) {
          clearTimeout(timer);
          res();
        }
      });
      server.on('exit', (code) => rej(new Error(`npm start exited ${code}:\n${out}`)));
    });
  }, 180_000); // `npm start` compiles the whole project first

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      process.kill(-server.pid!, 'SIGTERM');
      await exited;
      // The broker drains and exits too: wait until nothing answers on its port any more.
      for (
        let i = 0;
        i < 150 &&
        (await fetch(`${url}/healthz`).then(
          () => true,
          () => false,
        ));
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
    }
    cleanup();
  });

  it('created a private data dir and a working broker', async () => {
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'data', 'creddy.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data', 'kek')).mode & 0o777).toBe(0o600);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('puts creddy on PATH as the README says: npm link into ~/.local, offline, no root', async () => {
    const [link, path] = quickStartBlocks()[1]!;
    expect(link).toMatch(/^npm_config_prefix="\$HOME\/\.local" npm link\b/);
    expect(path).toMatch(/^export PATH="\$HOME\/\.local\/bin:\$PATH"/);
    const home = join(dir, 'home');
    mkdirSync(home);
    const linked = spawnSync('sh', ['-c', link!], {
      cwd: dir,
      env: { ...process.env, HOME: home, npm_config_offline: 'true' },
      encoding: 'utf8',
    });
    expect(linked.status, linked.stderr).toBe(0);
    const onPath = { PATH: `${home}/.local/bin:${process.env['PATH']}`, HOME: home };
    expect(spawnSync('creddy', ['version'], { env: onPath, encoding: 'utf8' }).stdout).toBe('0.1.0\n');
    // git finds the helper bin the same way.
    expect(spawnSync('sh', ['-c', 'command -v git-credential-creddy'], { env: onPath, encoding: 'utf8' }).stdout.trim()).toBe(
      join(home, '.local/bin/git-credential-creddy'),
    );
    const created = spawnSync('creddy', ['agent', 'create', 'path-bot', '--can', 'demo:read'], {
      env: { ...onPath, ...env() },
      encoding: 'utf8',
    });
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^ckr_[\w-]{43}\n$/);
  });

  it('git ignores every file the quick start writes into the checkout (the config, the data, the token)', () => {
    const written = quickStartBlocks()
      .flat()
      .flatMap((line) => [...line.matchAll(/> (\S+)/g)].map((m) => m[1]!));
    expect(written).toContain('token.jwt');
    for (const path of ['creddy.yaml', 'data/creddy.db', ...written]) {
      const r = spawnSync('git', ['check-ignore', '--quiet', '--no-index', path], { cwd: ROOT });
      expect(r.status, `${path} is not in .gitignore`).toBe(0);
    }
  });

  // The commands in process (runCli): the bin on PATH ran in the test before, and cli/bin covers
  // the built bin; what this test checks is what they answer, a few tenths of a second of CPU each.
  it('issues, verifies, denies and audits exactly as the README says', async () => {
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json'], env());
    expect(created.code).toBe(0);
    const { token, grants } = JSON.parse(created.stdout) as { token: string; grants: string[] };
    expect(token).toMatch(/^ckr_[A-Za-z0-9_-]{43}$/);
    expect(grants).toEqual(['demo:read']);

    const caller = env({ CREDDY_URL: url, CREDDY_TOKEN: token });
    const got = await runCli(['get', 'demo', '--scopes', 'read', '--ttl', '10m'], caller);
    expect(got.code).toBe(0);
    const jwt = got.stdout.trim();

    // As the README passes it: from the file on stdin, not on the command line (ps, shell history).
    expect(quickStartBlocks()[1]!.some((line) => line.startsWith('creddy verify - < token.jwt '))).toBe(true);
    const verified = await runCli(['verify', '-', '--json'], caller, got.stdout);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).claims).toMatchObject({ sub: 'bot', scope: 'read', backend: 'demo', aud: 'demo' });
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(jwt).kid);
    // An independent verifier (jose, remote JWKS) accepts it too.
    const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`)), {
      typ: 'at+jwt',
      algorithms: ['EdDSA'],
    });
    expect(payload.exp! - payload.iat!).toBe(600);

    const denied = await runCli(['get', 'demo', '--scopes', 'write'], caller);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/ERR_SCOPE_DENIED: scope "write"/);
    expect(denied.stderr).not.toContain(token);

    const audit = await runCli(['audit', 'list', '--backend', 'demo', '--since', '1h', '--json'], env());
    expect(audit.code).toBe(0);
    const rows = JSON.parse(audit.stdout) as Array<{ type: string; reason: string | null; scopes: string[] }>;
    expect(rows.map((r) => [r.type, r.reason, r.scopes])).toEqual([
      ['credential.denied', 'ERR_SCOPE_DENIED', ['write']],
      ['credential.issued', null, ['read']],
    ]);
  });
});
