/**
 * examples/ as a user runs them: the package packed and unpacked into a fresh project
 * (packed-project.ts), the two example programs copied in as they are, type-checked by tsc
 * (strict, NodeNext) and run with node against a live loopback broker — the resource server built
 * with `creddy/hono`, the key-pair agent with `creddy/client` calling it with DPoP-bound
 * credentials. The agent's key is made the way the example's header says, by the CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { exec, type PackedProject, packIntoProject, ROOT, TSC } from './packed-project.js';

const EXAMPLES = ['agent.ts', 'resource-server.ts'];

let packed: PackedProject;
let broker: TestBroker;
let resourceServer: ChildProcess | undefined;

beforeAll(async () => {
  packed = await packIntoProject();
  await mkdir(join(packed.project, 'examples'));
  for (const file of EXAMPLES) await copyFile(join(ROOT, 'examples', file), join(packed.project, 'examples', file));
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  resourceServer?.kill('SIGTERM');
  await broker?.stop();
  await packed?.remove();
});

/** Starts `node file` with `env`; resolves with the URL it prints once listening. */
function startListening(file: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [file], { cwd: packed.project, env: { PATH: process.env['PATH'], ...env } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (\S+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${err}`)));
  });
}

describe('examples/', () => {
  it('type-check as a strict NodeNext project against the packed package', async () => {
    await writeFile(
      join(packed.project, 'tsconfig.examples.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        // The package's declarations are checked strictly by consumer.test.ts; here the examples are.
        compilerOptions: { noEmit: false, outDir: 'build', rootDir: 'examples', skipLibCheck: true },
        include: ['examples/*.ts'],
      }),
    );
    const compiled = await exec(process.execPath, [TSC, '-p', 'tsconfig.examples.json'], { cwd: packed.project }).catch(
      (err: { stdout?: string }) => {
        throw new Error(`tsc failed on examples/:\n${err.stdout ?? String(err)}`);
      },
    );
    expect(compiled.stdout).toBe('');
  }, 120_000);

  it('the agent (key pair, DPoP) reads from the resource server; its copied token is refused', async () => {
    const keyFile = join(packed.project, 'report-bot.pem');
    const created = await runCli(
      ['agent', 'create', 'report-bot', '--can', 'demo:files:read', '--generate-key', keyFile, '--config', broker.configPath],
      broker.env,
    );
    expect(created.code, created.stderr).toBe(0);

    const api = await startListening('build/resource-server.js', {
      CREDDY_ISSUER: broker.services.config.issuer,
      CREDDY_URL: broker.url,
      API_AUDIENCE: 'demo',
      PORT: '0',
    });
    resourceServer = api.child;

    const { stdout } = await exec(process.execPath, ['build/agent.js'], {
      cwd: packed.project,
      env: {
        PATH: process.env['PATH'],
        CREDDY_URL: broker.url,
        CREDDY_AGENT: 'report-bot',
        CREDDY_AGENT_KEY_FILE: keyFile,
        CREDDY_BACKEND: 'demo',
        API_URL: api.url,
      },
    });
    const [read, stolen] = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(read).toEqual({
      status: 200,
      body: { name: 'report.txt', agent: 'report-bot', scopes: 'files:read', dpop_bound: true },
    });
    expect(stolen).toEqual({ token_type: 'DPoP', stolen: { as_bearer: 401, with_another_key: 401 } });
    // Without a proof at all, the resource server refuses it too.
    const bare = await fetch(`${api.url}/files/report.txt`);
    expect(bare.status).toBe(401);

    // The broker saw a key-pair agent: its issuances name the key, and the tokens are bound.
    const issued = await broker.services.store.audit.query({ agent: 'report-bot', type: 'credential.issued', limit: 10 });
    expect(issued.length).toBeGreaterThan(0);
    for (const row of issued) expect(row.details).toMatchObject({ agent_key: expect.any(String), dpop_jkt: expect.any(String) });
  });
});
