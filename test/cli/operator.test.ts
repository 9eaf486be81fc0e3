import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { demoYaml, issue, startBroker, type TestBroker } from '../helpers/harness.js';

describe('operator CLI against a running server', () => {
  let broker: TestBroker;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);

  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker.stop());

  it('agent create prints the token once; list never shows it', async () => {
    const created = await op(['agent', 'create', 'ci-job', '--can', 'demo:read,demo:files:*', '--expires', '30d', '--json']);
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout) as { name: string; token: string; grants: string[]; expires_at: string };
    expect(body.grants).toEqual(['demo:read', 'demo:files:*']);
    expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);

    const listed = await op(['agent', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(body.token);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ name: 'ci-job', status: 'active' }));

    const plain = await op(['agent', 'list']);
    expect(plain.stdout).toMatch(/^NAME\s+STATUS\s+GRANTS/m);
  });

  it('a revoked agent is refused by the running server at once', async () => {
    const created = await op(['agent', 'create', 'short-lived', '--can', 'demo:read', '--json']);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const before = await issue(broker.url, token, { backend: 'demo' });
    expect(before.status).toBe(201);
    const revoked = await op(['agent', 'revoke', 'short-lived', '--json']);
    expect(revoked.code).toBe(0);
    // What the agent already holds dies with it.
    expect(JSON.parse(revoked.stdout)).toEqual({ name: 'short-lived', revoked: true, credentials_revoked: 1 });
    const verified = await runCli(['verify', before.body.token], { CREDDY_URL: broker.url });
    expect(verified.stderr).toContain('ERR_TOKEN_REVOKED');
    const rows = await broker.services.store.audit.query({ jti: before.body.id, type: 'credential.revoked', limit: 5 });
    expect(rows).toEqual([expect.objectContaining({ actor: 'cli', reason: 'agent.revoked' })]);
    const refused = await issue(broker.url, token, { backend: 'demo' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('ERR_AGENT_REVOKED');
    const again = await op(['agent', 'revoke', 'short-lived']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ERR_NOT_FOUND');
  });

  it.each([
    [['agent', 'create', 'x', '--can', 'nope:read'], 'no backend named "nope"'],
    [['agent', 'create', 'x', '--can', 'demo:admin'], "outside demo's allowed_scopes"],
    [['agent', 'create', 'x', '--can', 'demo'], 'must be BACKEND:SCOPE'],
    [['agent', 'create', 'x', '--can', 'demo:read', '--expires', 'forever'], '--expires'],
    [['agent', 'create', 'bad name!', '--can', 'demo:read'], 'agent name must match'],
    [['audit', 'list', '--since', 'yesterday'], '--since'],
    [['audit', 'list', '--limit', '0'], '--limit'],
    [['agent', 'create'], 'Missing required'],
    [['frobnicate'], 'unknown command "frobnicate"'],
  ])('usage error %j exits 2 with one clear line', async (args, message) => {
    const result = await op(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a duplicate agent is a conflict (exit 1)', async () => {
    await op(['agent', 'create', 'dup', '--can', 'demo:read']);
    const again = await op(['agent', 'create', 'dup', '--can', 'demo:read']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ERR_CONFLICT');
  });

  it('backend list and keys list read the same config and store', async () => {
    const backends = JSON.parse((await op(['backend', 'list', '--json'])).stdout) as Array<{ name: string; type: string }>;
    expect(backends).toEqual([expect.objectContaining({ name: 'demo', type: 'generic', max_ttl: '1h' })]);
    const keys = JSON.parse((await op(['keys', 'list', '--json'])).stdout) as Array<{ state: string }>;
    expect(keys.map((k) => k.state).sort()).toEqual(['current', 'next']);
  });

  it('a broken config refuses to load and names the key', async () => {
    const { writeFileSync } = await import('node:fs');
    const bad = `${broker.dir}/bad.yaml`;
    writeFileSync(bad, 'backends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n    max_ttl: 1 hour\n');
    const result = await runCli(['server', '--config', bad], broker.env);
    expect(result.code).toBe(1);
    // The server logs JSON, its failure to start included.
    expect(JSON.parse(result.stderr)).toMatchObject({ level: 'error', code: 'ERR_CONFIG_INVALID' });
    expect(JSON.parse(result.stderr).msg).toContain('ERR_CONFIG_INVALID: backends.demo.max_ttl: invalid duration "1 hour"');
    const other = await runCli(['backend', 'list', '--config', bad], broker.env);
    expect(other.stderr).toContain('ERR_CONFIG_INVALID: backends.demo.max_ttl: invalid duration "1 hour"');
  });

  it('a config that names no deployment yet: reads refuse and create nothing; agent create starts one', async () => {
    const { existsSync, mkdirSync, readdirSync, writeFileSync } = await import('node:fs');
    // A config with a relative data_dir, read from a directory that holds no deployment.
    const elsewhere = `${broker.dir}/elsewhere`;
    mkdirSync(elsewhere);
    const config = `${elsewhere}/creddy.yaml`;
    writeFileSync(config, demoYaml({ dataDir: './data' }));
    for (const read of [
      ['agent', 'list'],
      ['keys', 'list'],
      ['audit', 'list'],
      ['agent', 'revoke', 'nobody'],
      // These open the store on their own: an auditor's check must not pass on an empty log.
      ['audit', 'verify'],
      ['store', 'copy', '--to', 'postgres://creddy@127.0.0.1:1/creddy'],
    ]) {
      const result = await runCli([...read, '--config', config], broker.env);
      expect(result.code, read.join(' ')).toBe(1);
      expect(result.stderr).toMatch(/ERR_CONFIG_INVALID: no database at .*elsewhere.*creddy\.db: is this the deployment's config/);
    }
    expect(readdirSync(elsewhere)).toEqual(['creddy.yaml']);
    const created = await runCli(['agent', 'create', 'first', '--can', 'demo:read', '--config', config], broker.env);
    expect(created.code, created.stderr).toBe(0);
    expect(existsSync(`${elsewhere}/data/creddy.db`)).toBe(true);
  });
});

describe('caller CLI', () => {
  let broker: TestBroker;
  let caller: NodeJS.ProcessEnv;
  beforeAll(async () => {
    broker = await startBroker();
    caller = { CREDDY_URL: broker.url, CREDDY_TOKEN: await broker.agent('bot', 'demo:read,demo:files:*') };
  });
  afterAll(async () => broker.stop());

  it('get --format json|env, list, revoke, and verify sees the revocation', async () => {
    const json = await runCli(
      ['get', 'demo', '--scopes', 'files:report.csv', '--ttl', '2h', '--meta', 'task=nightly,run=42', '--format', 'json'],
      caller,
    );
    expect(json.code).toBe(0);
    const issued = JSON.parse(json.stdout);
    expect(issued).toMatchObject({
      backend: 'demo',
      scopes: ['files:report.csv'],
      metadata: { task: 'nightly', run: '42' },
      ttl: { requested: 7200, granted: 3600, clamped_by: 'max_ttl' },
      credential: null,
    });

    const env = await runCli(['get', 'demo', '--format', 'env'], caller);
    expect(env.stdout).toMatch(/^export CREDDY_TOKEN_JWT='eyJ[^']+'$/m);

    const listed = JSON.parse((await runCli(['list', '--json'], caller)).stdout) as Array<{ id: string }>;
    expect(listed.map((c) => c.id)).toContain(issued.id);

    expect((await runCli(['revoke', issued.id], caller)).code).toBe(0);
    const verified = await runCli(['verify', issued.token], caller);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toContain('ERR_TOKEN_REVOKED');
    const relisted = JSON.parse((await runCli(['list', '--json'], caller)).stdout) as Array<{ id: string }>;
    expect(relisted.map((c) => c.id)).not.toContain(issued.id);
  });

  it('verify --backend pins the backend claim, as createVerifier({ backend }) does', async () => {
    const issued = JSON.parse((await runCli(['get', 'demo', '--json'], caller)).stdout) as { id: string; token: string };
    const pinned = await runCli(['verify', issued.token, '--backend', 'demo', '--audience', 'demo', '--json'], caller);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ valid: true, claims: { jti: issued.id, backend: 'demo' } });
    // The token's aud passes (no --audience: any), its backend claim does not.
    const other = await runCli(['verify', issued.token, '--backend', 'payments'], caller);
    expect(other.code).toBe(1);
    expect(other.stderr).toBe('creddy: ERR_TOKEN_INVALID: token rejected (issued for another backend)\n');
    const empty = await runCli(['verify', issued.token, '--backend', ''], caller);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('ERR_USAGE: --backend needs a backend name');
    const help = await runCli(['verify', '--help']);
    expect(help.stdout).toMatch(/--backend NAME\s+Require this backend claim/);
  });

  it('a CREDDY_TOKEN that ends in a newline (an env file, a Kubernetes secret) works', async () => {
    for (const ending of ['\n', '\r\n']) {
      const r = await runCli(['list', '--json'], { ...caller, CREDDY_TOKEN: `${caller['CREDDY_TOKEN']}${ending}` });
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('an empty --scopes or --repos is a usage error, not the defaults', async () => {
    for (const flag of ['--scopes', '--repos']) {
      const r = await runCli(['get', 'demo', flag, ' , '], caller);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toContain(`${flag} is empty`);
    }
  });

  it('a password in CREDDY_URL never reaches the output', async () => {
    const r = await runCli(['list'], { ...caller, CREDDY_URL: 'http://ops:S3cretPass@127.0.0.1:1' });
    // Refused before any request: credentials go in CREDDY_TOKEN, never in the URL.
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ERR_USAGE: CREDDY_URL must not carry credentials');
    expect(r.stderr).not.toContain('S3cretPass');
  });

  it('missing CREDDY_TOKEN is a usage error; an unreachable server is one clear line', async () => {
    const noToken = await runCli(['get', 'demo'], { CREDDY_URL: broker.url });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('CREDDY_TOKEN is not set');
    const down = await runCli(['get', 'demo'], { ...caller, CREDDY_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain('ERR_NOT_READY: cannot reach creddy');
  });
});

describe('CLI usage', () => {
  it('a command group without a subcommand shows its usage and exits 2', async () => {
    const result = await runCli(['audit']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^COMMANDS\n {2}list .*\n {2}verify .*\n {2}export .*\n {2}pubkey .*\n {2}prune /m);
  });

  it('an option where a command belongs is named, then the usage (exit 2)', async () => {
    for (const [argv, said] of [
      [['--foo'], 'unknown option --foo where a command belongs'],
      [['audit', '--bogus'], 'unknown option --bogus where a command belongs'],
      [['--version', '--json'], '--version takes no other option'],
    ] as const) {
      const result = await runCli([...argv]);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr).toContain(`creddy: ERR_USAGE: ${said}`);
      expect(result.stdout).toContain('USAGE');
    }
  });
});
