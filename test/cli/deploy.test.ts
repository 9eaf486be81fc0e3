import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as inProcess } from '../../src/cli/index.js';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker, tempDir } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('running from the environment alone (containers)', () => {
  let broker: TestBroker;
  const { dir, cleanup } = tempDir();
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker.stop();
    cleanup();
  });

  it('CREDDY_CONFIG_YAML is the config when no --config is given (over CREDDY_CONFIG); relative paths start at the working directory', async () => {
    const yaml = 'data_dir: ./state\nbackends:\n  inline:\n    type: generic\n    allowed_scopes: [read]\n';
    const env = { ...broker.env, CREDDY_CONFIG_YAML: yaml, CREDDY_CONFIG: broker.configPath };
    const listed = await runCli(['backend', 'list', '--json'], env);
    expect(JSON.parse(listed.stdout).map((b: { name: string }) => b.name)).toEqual(['inline']);
    // --config still wins.
    const flagged = await runCli(['backend', 'list', '--json', '--config', broker.configPath], env);
    expect(JSON.parse(flagged.stdout).map((b: { name: string }) => b.name)).toEqual(['demo']);
    const check = await runCli(['config', 'check', '--json'], { CREDDY_CONFIG_YAML: 'backends:\n  x:\n    type: nope\n' });
    expect(JSON.parse(check.stdout).checks[0]).toMatchObject({ status: 'fail', message: expect.stringContaining('backends.x.type') });
    const bad = await runCli(['backend', 'list'], { CREDDY_CONFIG_YAML: 'colour: blue\n' });
    expect(bad.stderr).toContain('ERR_CONFIG_INVALID: colour: unknown key');
    let out = '';
    const code = await inProcess(['agent', 'create', 'env-only', '--can', 'inline:read'], {
      stdout: { write: (t: string | Uint8Array) => (out += String(t)) },
      stderr: { write: () => true },
      env: { ...testKeys(broker.env), CREDDY_CONFIG_YAML: yaml },
      cwd: dir,
    });
    expect(code).toBe(0);
    expect(out).toMatch(/^ckr_/);
    expect(existsSync(join(dir, 'state', 'creddy.db'))).toBe(true);
  });

  it('creddy health asks /readyz where the server listens (CREDDY_PORT over the config; a wildcard host on loopback)', async () => {
    const port = new URL(broker.url).port;
    const config = join(dir, 'wildcard.yaml');
    writeFileSync(
      config,
      `listen: 0.0.0.0:1\ndata_dir: ${join(dir, 'unused')}\nbackends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n`,
    );
    const ready = await runCli(['health', '--config', config, '--json'], { CREDDY_PORT: port });
    expect(ready.code, ready.stdout).toBe(0);
    expect(JSON.parse(ready.stdout)).toMatchObject({ url: `http://127.0.0.1:${port}/readyz`, ready: true, status: 200 });
    const down = await runCli(['health', '--config', config], { CREDDY_PORT: '9' });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^not ready: http:\/\/127\.0\.0\.1:9\/readyz /);
    expect((await runCli(['health', '--url', broker.url])).code).toBe(0);
    // --listen gives the whole address: no config needed (none at all in this directory).
    const listen = await runCli(['health', '--listen', `127.0.0.1:${port}`, '--config', join(dir, 'missing.yaml')]);
    expect(listen.code, listen.stdout + listen.stderr).toBe(0);
  });
});

const testKeys = (env: NodeJS.ProcessEnv) => ({ CREDDY_KEK: env['CREDDY_KEK'], CREDDY_AUDIT_KEY: env['CREDDY_AUDIT_KEY'] });

describe('Dockerfile and systemd unit', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const unit = readFileSync(join(ROOT, 'deploy/creddy.service'), 'utf8');

  it('the image: a maintained Node LTS pinned to a release, creddy on PATH as the entrypoint, readiness at the configured port', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/m);
    expect(dockerfile).not.toMatch(/node:20/);
    expect(dockerfile).toMatch(/ln -s \/app\/dist\/creddy\.cjs \/usr\/local\/bin\/creddy/);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["creddy", "health"\]$/m);
    expect(dockerfile).not.toMatch(/127\.0\.0\.1:8400/); // no fixed port
    expect(dockerfile).toMatch(/^ENTRYPOINT \["creddy"\]$/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
  });

  it('the unit: hardened, state directory writable, keys as credentials through the _FILE variables', () => {
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/creddy',
      'StateDirectory=creddy',
      'LoadCredential=kek:/etc/creddy/kek',
      'LoadCredential=audit.key:/etc/creddy/audit.key',
      'Environment=CREDDY_KEK_FILE=%d/kek',
      'Environment=CREDDY_AUDIT_KEY_FILE=%d/audit.key',
      'CapabilityBoundingSet=',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).not.toMatch(/CREDDY_(KEK|AUDIT_KEY)=/); // never a key in the environment
  });

  it.skipIf(spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0)(
    'systemd-analyze verify accepts the unit without a warning',
    () => {
      const { dir, cleanup } = tempDir();
      try {
        // verify wants ExecStart to exist: point it at the built bin.
        const path = join(dir, 'creddy.service');
        writeFileSync(path, unit.replace('/usr/local/bin/creddy', join(ROOT, 'dist/creddy.cjs')));
        const result = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
        expect(result.status, result.stderr).toBe(0);
        expect(result.stderr).toBe('');
      } finally {
        cleanup();
      }
    },
  );
});
