/**
 * `creddy get --cache` against a real broker behind a loopback proxy that counts every request
 * the CLI makes: a hit makes none, a credential with less than a minute left is issued anew,
 * scopes and formats are separate entries, `creddy revoke` drops an entry, and the AWS
 * credential_process document is cached like any other. The CLI runs in process on the
 * broker's (frozen) clock; one case runs the built bin under a loose umask.
 */
import { readdirSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { BASE, ROLE, useBaseCredentials } from '../backends/aws/fixture.js';
import { type FakeSts, startFakeSts } from '../fakes/sts.js';
import { BIN, runProcess } from '../helpers/cli.js';
import { startBroker, type TestBroker, type TestClock, tempDir } from '../helpers/harness.js';

/** A clock that moves only when told to: the margin is tested to the millisecond. */
function frozenClock(start: number): TestClock {
  let now = start;
  return { now: () => now, advance: (seconds) => void (now += seconds * 1000) };
}

/** Forwards everything to `target` and counts the requests. */
async function countingProxy(target: string): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const clock = frozenClock(Math.floor(Date.now() / 1000) * 1000);
let broker: TestBroker;
let sts: FakeSts;
let proxy: Awaited<ReturnType<typeof countingProxy>>;
let cache: { dir: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  useBaseCredentials();
  sts = await startFakeSts({ credentials: [BASE], roles: [{ arn: ROLE }] });
  broker = await startBroker({
    clock,
    backends: `  demo:
    type: generic
    default_ttl: 5m
    allowed_scopes: [read, write]
    default_scopes: [read]
  aws:
    type: aws
    role_arn: ${ROLE}
    endpoint: ${sts.url}
    allowed_scopes: ["s3:GetObject"]
    default_scopes: ["s3:GetObject"]`,
  });
  proxy = await countingProxy(broker.url);
});
afterAll(async () => {
  await proxy.close();
  await broker.stop();
  await sts.close();
});
beforeEach(async () => {
  cache?.cleanup();
  cache = tempDir('creddy-xdg-');
  // A fresh agent per test: its own cache entries.
  const token = await broker.agent(`laptop-${Math.random().toString(36).slice(2, 8)}`, 'demo:read,demo:write,aws:s3:GetObject');
  env = { CREDDY_URL: proxy.url, CREDDY_TOKEN: token, XDG_CACHE_HOME: cache.dir, PATH: process.env['PATH'] };
});
afterAll(() => cache?.cleanup());

async function get(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCliInProcess(
    ['get', ...args],
    { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: { ...env, ...extraEnv } },
    { clock },
  );
  return { code, stdout, stderr };
}

describe('creddy get --cache', () => {
  it('answers a second call from the cache without a request; without --cache every call asks', async () => {
    const first = await get(['demo', '--cache']);
    expect(first.code).toBe(0);
    const after = proxy.count();
    const second = await get(['demo', '--cache']);
    expect(second).toEqual({ code: 0, stdout: first.stdout, stderr: '' });
    expect(proxy.count()).toBe(after);
    // CREDDY_CACHE=1 is the same opt-in; --no-cache overrides it.
    expect((await get(['demo'], { CREDDY_CACHE: '1' })).stdout).toBe(first.stdout);
    expect(proxy.count()).toBe(after);
    const uncached = await get(['demo', '--no-cache'], { CREDDY_CACHE: '1' });
    expect(uncached.stdout).not.toBe(first.stdout);
    expect(proxy.count()).toBe(after + 1);
    expect((await get(['demo'])).stdout).not.toBe(first.stdout);
    expect(proxy.count()).toBe(after + 2);
  });

  it('issues anew once less than a minute is left', async () => {
    const first = await get(['demo', '--cache', '--json']);
    const issued = JSON.parse(first.stdout) as { expires_at: string };
    const after = proxy.count();
    // Exactly one minute left: still handed out.
    clock.advance((Date.parse(issued.expires_at) - clock.now() - 60_000) / 1000);
    expect((await get(['demo', '--cache', '--json'])).stdout).toBe(first.stdout);
    expect(proxy.count()).toBe(after);
    clock.advance(0.001);
    const renewed = JSON.parse((await get(['demo', '--cache', '--json'])).stdout) as { id: string; expires_at: string };
    expect(proxy.count()).toBe(after + 1);
    expect(renewed.id).not.toBe(JSON.parse(first.stdout).id);
    expect(Date.parse(renewed.expires_at)).toBeGreaterThan(Date.parse(issued.expires_at));
  });

  it('keeps different scopes and formats apart', async () => {
    const read = await get(['demo', '--scopes', 'read', '--cache']);
    const write = await get(['demo', '--scopes', 'write', '--cache']);
    const json = await get(['demo', '--scopes', 'read', '--cache', '--json']);
    expect(new Set([read.stdout, write.stdout, `${JSON.parse(json.stdout).token}\n`]).size).toBe(3);
    expect(readdirSync(join(cache.dir, 'creddy'))).toHaveLength(3);
    const after = proxy.count();
    expect((await get(['demo', '--scopes', 'write', '--cache'])).stdout).toBe(write.stdout);
    expect(proxy.count()).toBe(after);
  });

  it('forgets a credential that creddy revoke revoked', async () => {
    const first = JSON.parse((await get(['demo', '--cache', '--json'])).stdout) as { id: string };
    let stdout = '';
    const code = await runCliInProcess(['revoke', first.id], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: () => true },
      env,
    });
    expect(code).toBe(0);
    const again = JSON.parse((await get(['demo', '--cache', '--json'])).stdout) as { id: string };
    expect(again.id).not.toBe(first.id);
  });

  it('caches the AWS credential_process document: one AssumeRole for two runs', async () => {
    const calls = sts.calls.length;
    const first = await get(['aws', '--format', 'credential-process', '--cache']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).Version).toBe(1);
    const after = proxy.count();
    expect((await get(['aws', '--format', 'credential-process', '--cache'])).stdout).toBe(first.stdout);
    expect(proxy.count()).toBe(after);
    expect(sts.calls.length).toBe(calls + 1);
  });

  it('the built bin writes a 0700 directory and a 0600 file under umask 022', async () => {
    // The bin runs on the wall clock: its own minute margin against the broker's frozen time.
    const script = `umask 022; exec "${process.execPath}" "${BIN}" get demo --cache`;
    const first = await runProcess('sh', ['-c', script], env);
    expect(first.code).toBe(0);
    const dir = join(cache.dir, 'creddy');
    const [name] = readdirSync(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, name!)).mode & 0o777).toBe(0o600);
    const after = proxy.count();
    expect((await runProcess('sh', ['-c', script], env)).stdout).toBe(first.stdout);
    expect(proxy.count()).toBe(after);
  });
});
