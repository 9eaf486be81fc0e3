import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';

/** Parses every line of a server's stderr; throws on one that is not JSON. */
const jsonLines = (stderr: string): Array<Record<string, any>> =>
  stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });

describe('creddy server: where it listens, and saying why it cannot', () => {
  const { dir, cleanup } = tempDir();
  const configPath = join(dir, 'creddy.yaml');
  const env = testEnv();
  const taken: Server[] = [];
  let portA: number;
  let portB: number;
  const occupy = async (): Promise<number> => {
    const s = createServer().listen(0, '127.0.0.1');
    await once(s, 'listening');
    taken.push(s);
    return (s.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data') })); // listen: 127.0.0.1:0
    [portA, portB] = [await occupy(), await occupy()];
  });
  afterAll(() => {
    for (const s of taken) s.close();
    cleanup();
  });

  it('a taken port is ERR_LISTEN_FAILED naming the address and how to pick another (one JSON line, exit 1)', async () => {
    const result = await runCli(['server', '--config', configPath, '--listen', `127.0.0.1:${portA}`], env);
    expect(result.code).toBe(1);
    const lines = jsonLines(result.stderr);
    const line = lines.find((l) => l['level'] === 'error');
    expect(lines.filter((l) => l['level'] === 'error')).toHaveLength(1);
    expect(line).toMatchObject({ level: 'error', code: 'ERR_LISTEN_FAILED' });
    expect(line!['msg']).toBe(
      `cannot start: ERR_LISTEN_FAILED: 127.0.0.1:${portA} is already in use (another creddy, or another program); pick another with --listen HOST:PORT, CREDDY_PORT=PORT, or listen: in ${configPath}`,
    );
  });

  it('CREDDY_PORT overrides the config, and --listen overrides CREDDY_PORT', async () => {
    const fromEnv = await runCli(['server', '--config', configPath], { ...env, CREDDY_PORT: String(portA) });
    const failure = (stderr: string) => String(jsonLines(stderr).find((l) => l['level'] === 'error')?.['msg']);
    expect(failure(fromEnv.stderr)).toContain(`127.0.0.1:${portA} is already in use`);
    const fromFlag = await runCli(['server', '--config', configPath, '--listen', `127.0.0.1:${portB}`], {
      ...env,
      CREDDY_PORT: String(portA),
    });
    expect(failure(fromFlag.stderr)).toContain(`127.0.0.1:${portB} is already in use`);
    const bad = await runCli(['server', '--config', configPath], { ...env, CREDDY_PORT: 'eighty' });
    expect(bad.code).toBe(2);
    expect(jsonLines(bad.stderr)[0]).toMatchObject({ code: 'ERR_USAGE' });
  });
});

describe('server logs', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('every stderr line is JSON: process warnings included, request failures with their request id; log_level filters', async () => {
    const configPath = join(dir, 'creddy.yaml');
    const backends = `  demo:
    type: generic
    allowed_scopes: [read]
  aws-down:
    type: aws
    role_arn: arn:aws:iam::123456789012:role/agents
    endpoint: http://127.0.0.1:9
    request_timeout: 1s
    max_attempts: 1
    allowed_scopes: ["s3:Get*"]`;
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data'), backendsYaml: backends, extra: 'log_level: warn' }));
    // A preload that emits a process warning on demand, as a dependency would.
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, "process.on('SIGUSR2', () => process.emitWarning('probe warning\\nsecond line', 'ProbeWarning'));\n");
    const env = {
      ...testEnv(),
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'x'.repeat(40),
      NODE_OPTIONS: `--import=${probe}`,
    };
    const created = await runCli(['agent', 'create', 'bot', '--can', 'aws-down:s3:GetObject', '--json', '--config', configPath], env);
    const { token } = JSON.parse(created.stdout) as { token: string };

    const server = await spawnServer(configPath, env);
    let stderr = '';
    server.child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = await fetch(`${server.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'aws-down', scopes: ['s3:GetObject'] }),
    });
    expect(failed.status).toBe(502);
    const requestId = failed.headers.get('x-request-id');
    server.child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const lines = jsonLines(stderr);
    expect(lines.find((l) => l['msg'] === 'request failed')).toMatchObject({
      level: 'error',
      request_id: requestId,
      code: 'ERR_BACKEND_UPSTREAM',
    });
    expect(lines.find((l) => l['warning'] === 'ProbeWarning')).toMatchObject({ level: 'warn', msg: 'probe warning second line' });
    // The AWS SDK warns about Node versions it will stop supporting; on Node 20 that is JSON too.
    if (Number(process.versions.node.split('.')[0]) < 22) {
      expect(
        lines.some((l) => String(l['msg']).includes('NodeVersionSupportWarning') || l['warning'] === 'NodeVersionSupportWarning'),
      ).toBe(true);
    }
    // log_level: warn drops info lines (the "creddy listening" line is info).
    expect(lines.every((l) => l['level'] !== 'info')).toBe(true);
  });
});
