import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * No secret in logs, errors, audit rows or CLI output other than the credential the caller asked
 * for. The test drives a real broker and the CLI through successes and failures, collecting every
 * secret it sees (agent tokens, issued JWTs, the KEK and the audit key), then searches every log
 * line, every audit row, the raw database files and the CLI's error output for them.
 */
describe('no secret leaks into logs, audit rows, the database or CLI errors', () => {
  let broker: TestBroker;
  const secrets = new Map<string, string>(); // value → what it is, for a readable failure
  const cliErrors: Array<{ args: string; result: CliResult }> = [];

  const remember = (what: string, value: string): string => {
    secrets.set(value, what);
    // A JWT's signature segment alone is enough to matter (with the public header and payload).
    if (value.split('.').length === 3) secrets.set(value.split('.')[2]!, `${what} (signature)`);
    return value;
  };
  const caller = (token: string) => ({ CREDDY_URL: broker.url, CREDDY_TOKEN: token });
  /** Runs a CLI command that must fail and keeps its output to search. */
  const failing = async (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> => {
    const result = await runCli(args, env);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).not.toBe(0);
    cliErrors.push({ args: args.join(' '), result });
    return result;
  };
  const send = (method: string, path: string, authorization: string, body?: unknown) =>
    fetch(`${broker.url}${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    broker = await startBroker();
    remember('CREDDY_KEK', broker.env['CREDDY_KEK']!);
    remember('CREDDY_AUDIT_KEY', broker.env['CREDDY_AUDIT_KEY']!);

    // An agent made by the CLI (its token is the output asked for) and one made in-process.
    const created = await runCli(
      ['agent', 'create', 'cli-bot', '--can', 'demo:read,demo:files:*', '--config', broker.configPath, '--json'],
      broker.env,
    );
    expect(created.code, created.stderr).toBe(0);
    const cliBot = remember('agent token cli-bot', (JSON.parse(created.stdout) as { token: string }).token);
    expect(created.stderr).not.toContain(cliBot);
    const bot = remember('agent token bot', await broker.agent('bot', 'demo:read,demo:write'));

    // Credentials: over HTTP and through `creddy get`.
    const first = await issue(broker.url, bot, { backend: 'demo', scopes: ['read'], metadata: { task: 'leak-test' } });
    expect(first.status).toBe(201);
    const jwt = remember('issued JWT', first.body.token as string);
    const viaCli = await runCli(['get', 'demo', '--scopes', 'read', '--ttl', '10m'], caller(cliBot));
    expect(viaCli.code, viaCli.stderr).toBe(0);
    remember('issued JWT (cli)', viaCli.stdout.trim());
    expect(viaCli.stderr).toBe('');

    // Denials of every kind the broker audits.
    for (const body of [
      { backend: 'demo', scopes: ['write'] }, // granted to bot, so try the cli-bot below
      { backend: 'demo', scopes: ['bad scope'] },
      { backend: 'demo', ttl: '5s' },
      { backend: 'nope' },
    ]) {
      expect((await issue(broker.url, cliBot, body)).status).toBeGreaterThanOrEqual(400);
    }
    // Callers who paste a secret where it does not belong: as a scope (audited as requested), as an id.
    expect((await issue(broker.url, cliBot, { backend: 'demo', scopes: [cliBot] })).status).toBe(403);
    expect((await issue(broker.url, cliBot, { backend: 'demo', scopes: [`files:${jwt.slice(0, 100)}`, jwt] })).status).toBe(400);

    // Authentication failures, including a JWT sent as the bearer and secrets in the path.
    const unknownAgent = remember('unknown agent token', `ckr_${randomBytes(32).toString('base64url')}`);
    for (const authorization of [`Bearer ${unknownAgent}`, `Bearer ${jwt}`, `Bearer ${cliBot}x`, jwt]) {
      expect((await send('GET', '/v1/credentials', authorization)).status).toBe(401);
    }
    expect((await send('DELETE', `/v1/credentials/${jwt}`, `Bearer ${unknownAgent}`)).status).toBe(401);
    expect((await send('DELETE', `/v1/credentials/${unknownAgent}`, `Bearer ${unknownAgent}`)).status).toBe(401);
    expect((await send('DELETE', `/v1/credentials/${jwt}`, `Bearer ${bot}`)).status).toBe(400);

    // Revocation, twice (the second is a 409).
    expect((await send('DELETE', `/v1/credentials/${first.body.id as string}`, `Bearer ${bot}`)).status).toBe(200);
    expect((await send('DELETE', `/v1/credentials/${first.body.id as string}`, `Bearer ${bot}`)).status).toBe(409);

    // Failing CLI commands, each handed a secret it must not repeat.
    await failing(['get', 'demo', '--scopes', 'write'], caller(cliBot));
    await failing(['get', 'demo'], caller(unknownAgent));
    await failing(['list'], caller(`${cliBot}x`));
    await failing(['verify', jwt], { CREDDY_URL: broker.url }); // revoked
    await failing(['verify', `${jwt.slice(0, -4)}AAAA`], { CREDDY_URL: broker.url });
    await failing(['verify', `${jwt.slice(0, -4)}AAAA`, '--debug'], { CREDDY_URL: broker.url });
    await failing(['verify', jwt.replace('.', '..')], { CREDDY_URL: broker.url });
    await failing(['revoke', jwt], caller(bot));
    await failing(['agent', 'create', 'bot', '--can', 'demo:read', '--config', broker.configPath], broker.env);
    await failing(['agent', 'list', '--config', broker.configPath], { ...broker.env, CREDDY_KEK: broker.env['CREDDY_KEK']!.slice(1) });
    const wrongKek = remember('wrong KEK', randomBytes(32).toString('hex'));
    await failing(['keys', 'list', '--config', broker.configPath], { ...broker.env, CREDDY_KEK: wrongKek });
    await failing(['audit', 'verify', '--config', broker.configPath], { ...broker.env, CREDDY_AUDIT_KEY: randomBytes(32).toString('hex') });
    await broker.services.audit.flush();
  });
  afterAll(async () => broker?.stop());

  /** Every secret found in `text`, named. */
  const leaks = (text: string): string[] => [...secrets].filter(([value]) => text.includes(value)).map(([, what]) => what);

  it('collected the secrets it is looking for', () => {
    expect([...secrets.values()].filter((w) => w.includes('agent token'))).toHaveLength(3);
    expect([...secrets.values()].filter((w) => w.startsWith('issued JWT') && !w.endsWith('(signature)'))).toHaveLength(2);
    expect(cliErrors.length).toBeGreaterThanOrEqual(10);
  });

  it('no log line contains a secret', () => {
    expect(broker.logLines.length).toBeGreaterThan(0);
    const found = broker.logLines.flatMap((line) => leaks(line).map((what) => `${what} in: ${line.slice(0, 200)}`));
    expect(found).toEqual([]);
  });

  it('no audit row contains a secret', async () => {
    const rows = await broker.services.store.audit.query({ limit: 10_000, order: 'asc' });
    expect(rows.map((r) => r.type)).toEqual(
      expect.arrayContaining([
        'agent.created',
        'credential.issued',
        'credential.denied',
        'credential.revoked',
        'auth.failed',
        'key.created',
      ]),
    );
    const found = rows.flatMap((row) => leaks(JSON.stringify(row)).map((what) => `${what} in audit row ${row.seq} (${row.type})`));
    expect(found).toEqual([]);
  });

  it('the database files hold no secret in any form the test can see', () => {
    const path = broker.services.config.store.kind === 'sqlite' ? broker.services.config.store.path : '';
    const files = [path, `${path}-wal`].filter((p) => existsSync(p));
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((file) => leaks(readFileSync(file).toString('latin1')).map((what) => `${what} in ${file}`));
    expect(found).toEqual([]);
  });

  it('failing CLI commands print one error line and no secret', () => {
    const found = cliErrors.flatMap(({ args, result }) =>
      leaks(result.stderr + result.stdout).map((what) => `${what} in output of: creddy ${args.slice(0, 80)}`),
    );
    expect(found).toEqual([]);
    for (const { args, result } of cliErrors.filter((e) => !e.args.includes('--debug'))) {
      expect(result.stderr, args).toMatch(/^creddy: (ERR_[A-Z_]+|.*)/);
      expect(result.stderr, args).not.toMatch(/\n\s+at /);
    }
  });
});
