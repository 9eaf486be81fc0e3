import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, ROLE } from '../backends/aws/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { type FakeSts, startFakeSts } from '../fakes/sts.js';
import { runBin, runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker, tempDir } from '../helpers/harness.js';

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/**
 * Runs `creddy doctor --json` as its own process (the AWS SDK reads the process environment), or,
 * with `inProcess`, the same command in this process: only for a config without an `aws` backend,
 * where nothing reads the environment but through the env given.
 */
async function doctor(
  config: string,
  env: NodeJS.ProcessEnv,
  { inProcess = false } = {},
): Promise<{ code: number | null; ok: boolean; checks: Check[]; stderr: string }> {
  const args = ['doctor', '--json', '--config', config];
  const r = inProcess ? await runCli(args, env) : await runBin(args, { AWS_EC2_METADATA_DISABLED: 'true', ...env });
  const body = JSON.parse(r.stdout || '{}') as { ok: boolean; checks: Check[] };
  return { code: r.code, ok: body.ok, checks: body.checks ?? [], stderr: r.stderr };
}
const find = (checks: Check[], name: string) => checks.filter((c) => c.check === name);

describe('creddy doctor', () => {
  const app = appKeyPair();
  let gh: FakeGitHub;
  let sts: FakeSts;
  let skewed: Server;
  let broker: TestBroker;
  const { dir, cleanup } = tempDir();
  const awsEnv = { AWS_ACCESS_KEY_ID: BASE.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE.secretAccessKey, HOME: dir };
  const backends = (stsUrl: string, appId = 99) => `  gh:
    type: github
    app_id: ${appId}
    private_key: \${file:${join(dir, 'app.pem')}}
    installation_id: 5
    base_url: ${gh.url}
    allowed_scopes: ["contents:*"]
  aws:
    type: aws
    role_arn: ${ROLE}
    endpoint: ${stsUrl}
    request_timeout: 2s
    allowed_scopes: ["s3:Get*"]
  demo:
    type: generic
    allowed_scopes: [read]`;
  /** A config on the broker's data dir whose issuer is where the broker really listens. */
  const configFor = (name: string, body: string, issuer = broker.url) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, `issuer: ${issuer}\ndata_dir: ${join(broker.dir, 'data')}\nbackends:\n${body}\n`);
    return path;
  };

  beforeAll(async () => {
    writeFileSync(join(dir, 'app.pem'), app.privateKey);
    gh = await startFakeGitHub({
      appId: 99,
      appPublicKeyPem: app.publicKey,
      installations: [{ id: 5, account: 'acme', repositories: ['acme/widgets'], permissions: { contents: 'write' } }],
    });
    sts = await startFakeSts({ credentials: [BASE], roles: [{ arn: ROLE }] });
    // An STS stand-in whose clock is ten minutes behind, and which refuses everything.
    skewed = createServer((_req, res) => {
      res.sendDate = false;
      res.writeHead(403, { date: new Date(Date.now() - 600_000).toUTCString(), 'content-type': 'text/xml' });
      res.end('<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>');
    }).listen(0, '127.0.0.1');
    await once(skewed, 'listening');
    broker = await startBroker({
      files: { 'app.pem': app.privateKey },
      backends: (d) => backends(sts.url).replace(join(dir, 'app.pem'), join(d, 'app.pem')),
    });
  });
  afterAll(async () => {
    await broker.stop();
    await gh.close();
    await sts.close();
    skewed.close();
    cleanup();
  });

  it('a healthy deployment: one ok line per check, exit 0', async () => {
    const config = configFor('healthy', backends(sts.url));
    const r = await doctor(config, { ...broker.env, ...awsEnv });
    expect(r.code, JSON.stringify(r.checks, null, 2)).toBe(0);
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => [c.check, c.status])).toEqual([
      ['config', 'ok'],
      ['kek', 'ok'],
      ['audit key', 'ok'],
      ['store', 'ok'],
      ['kek', 'ok'],
      ['backend gh', 'ok'],
      ['backend aws', 'ok'],
      ['backend demo', 'ok'],
      ['clock', 'ok'],
      ['jwks', 'ok'],
    ]);
    expect(find(r.checks, 'backend gh')[0]!.message).toContain('JWT accepted, installation 5 (acme) reachable');
    expect(find(r.checks, 'backend aws')[0]!.message).toContain('base credentials resolve to arn:aws:');
    // The human form: the same checks, one line each.
    const text = await runBin(['doctor', '--config', config], { ...broker.env, ...awsEnv });
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toHaveLength(10);
    expect(text.stdout).toMatch(/^ok {4}jwks {10}http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json: 2 key\(s\)$/m);
  });

  it('names each problem with its fix and exits 1: dev keys, a refused App JWT, no AWS credentials, skew, a JWKS elsewhere', async () => {
    const config = configFor('broken', backends(`http://127.0.0.1:${(skewed.address() as AddressInfo).port}`, 98), 'http://127.0.0.1:9');
    // No KEK or audit key in the environment, no AWS credentials anywhere.
    const r = await doctor(config, { HOME: dir });
    expect(r.code).toBe(1);
    expect(r.ok).toBe(false);
    expect(find(r.checks, 'kek')[0]).toMatchObject({ status: 'warn', fix: expect.stringContaining('CREDDY_KEK_FILE') });
    expect(find(r.checks, 'audit key')[0]).toMatchObject({ status: 'warn' });
    expect(find(r.checks, 'backend gh')[0]).toMatchObject({ status: 'fail', fix: expect.stringContaining('check app_id and private_key') });
    expect(find(r.checks, 'backend aws')[0]).toMatchObject({ status: 'fail', fix: expect.stringContaining('give creddy AWS credentials') });
    expect(find(r.checks, 'clock')[0]).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(/clock is 60\ds ahead of aws's: beyond keys.clock_skew/),
    });
    expect(find(r.checks, 'jwks')[0]).toMatchObject({ status: 'fail', fix: expect.stringContaining('start the server') });
  });

  it('a secret backend is served from the store: nothing downstream to probe, no crash', async () => {
    const config = configFor(
      'secrets',
      '  demo:\n    type: generic\n    allowed_scopes: [read]\n  vault:\n    type: secret\n    allowed_scopes: ["app/*"]',
    );
    const r = await doctor(config, broker.env, { inProcess: true });
    expect(r.stderr).not.toContain('ERR_INTERNAL');
    expect(find(r.checks, 'backend vault')).toEqual([
      { check: 'backend vault', status: 'ok', message: expect.stringContaining('values come from the store') },
    ]);
  });

  it('changes nothing: a config whose database does not exist yet warns, and nothing is created', async () => {
    const fresh = join(dir, 'fresh');
    mkdirSync(fresh);
    const config = join(fresh, 'creddy.yaml');
    writeFileSync(config, 'data_dir: ./data\nbackends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n');
    const r = await doctor(config, { HOME: dir }, { inProcess: true });
    expect(find(r.checks, 'store')[0]).toMatchObject({ status: 'warn', message: expect.stringContaining('no database yet') });
    expect(existsSync(join(fresh, 'data'))).toBe(false);
  });

  it('a deployment on the development KEK: the fix moves it off, restarts included (a rewrap alone leaves brokers that fail their next start)', async () => {
    const devDir = join(dir, 'dev-kek');
    mkdirSync(devDir);
    const config = join(devDir, 'creddy.yaml');
    writeFileSync(config, 'data_dir: ./data\nbackends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n');
    // No KEK in the environment: the CLI makes the development one in data_dir, as a laptop does.
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--config', config], { HOME: dir });
    expect(created.code, created.stderr).toBe(0);
    const r = await doctor(config, { HOME: dir }, { inProcess: true });
    const kek = find(r.checks, 'kek')[0];
    expect(kek).toMatchObject({ status: 'warn', message: expect.stringContaining('development KEK') });
    expect(kek?.fix).toMatch(
      /CREDDY_KEK_FILE .*CREDDY_KEK_PREVIOUS_FILE .*restart every broker with both, run creddy keys rewrap, then drop CREDDY_KEK_PREVIOUS_FILE and restart them again; .*fails its next start with ERR_KEK_INVALID/,
    );
  });

  it('a PostgreSQL store it cannot reach fails the store check, naming the error', async () => {
    const config = join(dir, 'pg-down.yaml');
    // Port 1 on loopback: nothing listens there.
    writeFileSync(
      config,
      'data_dir: ./data\nstore: postgres://creddy@127.0.0.1:1/creddy\nbackends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n',
    );
    const r = await doctor(config, { HOME: dir }, { inProcess: true });
    expect(r.code).toBe(1);
    expect(find(r.checks, 'store')[0]).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(/^cannot reach postgres:\/\/creddy@127\.0\.0\.1:1\/creddy: .*ECONNREFUSED/),
      fix: expect.stringContaining('PostgreSQL is running'),
    });
  });

  it('a broken config: every problem is a failed check under its key path', async () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(
      config,
      'issuer: x\nbackends:\n  demo:\n    type: generic\n    max_ttl: soon\n    allowed_scopes: [read]\n  other:\n    type: vault\n',
    );
    const r = await doctor(config, {}, { inProcess: true });
    expect(r.code).toBe(1);
    expect(r.checks.map((c) => [c.status, c.message.split(':')[0]])).toEqual([
      ['fail', 'issuer'],
      ['fail', 'backends.demo.max_ttl'],
      ['fail', 'backends.other.type'],
    ]);
  });
});

describe('creddy config check', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('lists every problem of the file at once (exit 1), or says it is fine (exit 0)', async () => {
    const text = readFileSync(join(import.meta.dirname, '../../config.example.yaml'), 'utf8');
    const copied = join(dir, 'creddy.yaml');
    writeFileSync(copied, text);
    const r = await runCli(['config', 'check', '--config', copied]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^fail {2}config {2}backends\.my-github\.private_key: cannot read file \/etc\/creddy\/github-app\.pem \(ENOENT\) — fix: /,
      ),
      expect.stringMatching(/^fail {2}config {2}backends\.aws-prod\.external_id: environment variable AWS_EXTERNAL_ID is not set — fix: /),
      expect.stringMatching(
        /^fail {2}config {2}backends\.app-db\.url: cannot read file \/run\/secrets\/pg-admin-password \(ENOENT\) — fix: /,
      ),
    ]);
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'backends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n');
    const ok = await runCli(['config', 'check', '--config', good, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ ok: true, checks: [{ check: 'config', status: 'ok', message: `${good}: 1 backend(s)` }] });
  });

  it('a config it cannot read: the reason carries its own fix, given once', async () => {
    const missing = join(dir, 'missing.yaml');
    const r = await runCli(['config', 'check', '--config', missing, '--json']);
    expect(r.code).toBe(1);
    const { checks } = JSON.parse(r.stdout) as { checks: Array<{ message: string; fix?: string }> };
    expect(checks).toHaveLength(1);
    expect(checks[0]!.message).toContain(`cannot read config ${missing}: ENOENT, no such file (run \`creddy init\``);
    expect(checks[0]!.fix).toBeUndefined();
  });
});
