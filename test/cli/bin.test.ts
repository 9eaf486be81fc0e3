import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker, tempDir } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('installed bins', () => {
  it("npx creddy runs the checkout's own bin", () => {
    expect(execFileSync('npx', ['creddy', '--version'], { cwd: ROOT, encoding: 'utf8' }).trim()).toBe('0.1.0');
  });

  it('a reader that closes the pipe early (| head) ends the command quietly, exit 0', async () => {
    // The shell's `creddy completion bash | head -0`: the pipe is closed before creddy writes.
    const child = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'completion', 'bash'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  describe('git-credential-creddy', () => {
    let broker: TestBroker;
    const { dir, cleanup } = tempDir();
    beforeAll(async () => {
      broker = await startBroker();
    });
    afterAll(async () => {
      await broker.stop();
      cleanup();
    });

    it('lets `credential.helper "creddy …"` work without the ! shell form', async () => {
      // git runs `git-credential-creddy ARGS get`; the operation reaches our helper and a
      // non-github backend is refused with a clear usage error rather than a silent empty answer.
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      symlinkSync(join(ROOT, 'dist/git-credential-main.js'), join(bin, 'git-credential-creddy'));
      const home = join(dir, 'home');
      mkdirSync(home);
      writeFileSync(join(home, '.gitconfig'), '[credential]\n\thelper = creddy --backend demo\n');
      const token = await broker.agent('git-bot', 'demo:read');
      // Async: the broker answering the helper lives in this process.
      const child = promisify(execFile)('git', ['credential', 'fill'], {
        env: { PATH: `${bin}:${process.env['PATH']}`, HOME: home, GIT_TERMINAL_PROMPT: '0', CREDDY_URL: broker.url, CREDDY_TOKEN: token },
        encoding: 'utf8',
      });
      child.child.stdin!.end('protocol=https\nhost=github.com\n\n');
      const failure = await child.then(
        () => undefined,
        (err: { stderr?: string }) => err,
      );
      expect(String(failure?.stderr)).toContain('the git credential helper needs a github backend; "demo" is generic (nothing was issued)');
    });
  });
});
