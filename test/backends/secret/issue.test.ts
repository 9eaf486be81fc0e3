/**
 * `type: secret` end to end: operators write secrets with the CLI (never through argv), agents
 * read them as credentials over HTTP, `creddy exec` injects them under their env names, and every
 * write and read is an audit row naming path and version — never the value.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds } from '../../../src/_utils/clock.js';
import { createCreddyClient } from '../../../src/client/client.js';
import { runCli } from '../../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../../helpers/harness.js';

const STRIPE_KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
const WEBHOOK = 'whsec_Xq0a9nM2pL7sK4vT';
let broker: TestBroker;
let op: (args: string[], input?: string) => ReturnType<typeof runCli>;
let token: string;

beforeAll(async () => {
  broker = await startBroker({
    backends: `  stripe:
    type: secret
    allowed_scopes: ["prod/stripe/*"]
    env: {prod/stripe/api-key: STRIPE_API_KEY, prod/stripe/webhook: STRIPE_WEBHOOK_SECRET}
    grace: 1h
    max_age: 90d
  db-secrets:
    type: secret
    allowed_scopes: ["prod/db/*", "prod/stripe/api-key"]
    grace: 10m`,
  });
  op = (args, input = '') => runCli([...args, '--config', broker.configPath], broker.env, input);
  token = await broker.agent('billing', 'stripe:prod/stripe/*,db-secrets:prod/db/*');
});
afterAll(async () => {
  await broker.stop();
});

const read = (scopes: string[], backend = 'stripe') => issue(broker.url, token, { backend, scopes });

/** Every audit row and log line, as text: the place a leaked value would show. */
async function everythingLogged(): Promise<string> {
  const rows = await broker.services.store.audit.query({ limit: 10_000 });
  return JSON.stringify(rows) + broker.logLines.join('\n');
}

describe('type: secret', () => {
  it('operators store values from stdin, a file, the environment or a generator, never from argv', async () => {
    const put = await op(['secret', 'put', 'prod/stripe/api-key'], `${STRIPE_KEY}\n`);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe('stored prod/stripe/api-key version 1\n');
    const file = join(broker.dir, 'webhook.txt');
    writeFileSync(file, WEBHOOK);
    expect((await op(['secret', 'put', 'prod/stripe/webhook', '--from-file', file])).code).toBe(0);
    const fromEnv = await runCli(['secret', 'put', 'prod/db/password', '--from-env', 'DB_PW', '--config', broker.configPath], {
      ...broker.env,
      DB_PW: 'correct horse battery staple',
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const generated = await op(['secret', 'put', 'prod/db/pepper', '--generate', '48', '--json']);
    expect(generated.code, generated.stderr).toBe(0);
    expect(JSON.parse(generated.stdout)).toEqual({ path: 'prod/db/pepper', version: 1, served_by: ['db-secrets'], generated: true });

    // A value on the command line is refused before anything is stored.
    const argv = await op(['secret', 'put', 'prod/stripe/other', 'sk_live_on_the_command_line']);
    expect(argv.code).toBe(2);
    expect((await op(['secret', 'put', 'prod/stripe/empty'])).stderr).toMatch(/ERR_USAGE: no value/);
    expect((await op(['secret', 'put', 'prod/x', '--from-env', 'A', '--generate', '20'])).stderr).toMatch(/give one of/);
    expect((await op(['secret', 'put', 'prod/../etc', '--generate', '20'])).stderr).toMatch(/ERR_USAGE: .*".." segment/);
    const again = await op(['secret', 'put', 'prod/stripe/api-key'], 'other');
    expect(again.stderr).toMatch(/ERR_CONFLICT: .*use creddy secret rotate/);
    const orphan = await op(['secret', 'put', 'staging/nobody-serves-this', '--generate', '16']);
    expect(orphan.stderr).toMatch(/warning: no secret backend's allowed_scopes cover staging\/nobody-serves-this/);

    const listed = JSON.parse((await op(['secret', 'list', 'prod/', '--json'])).stdout) as Array<{ path: string }>;
    expect(listed.map((s) => s.path)).toEqual(['prod/db/password', 'prod/db/pepper', 'prod/stripe/api-key', 'prod/stripe/webhook']);
    expect(JSON.stringify(listed)).not.toContain(STRIPE_KEY);
  });

  it('an issuance returns the granted values with versions and env names; its audit row names paths and versions only', async () => {
    const res = await read(['prod/stripe/*']);
    expect(res.status).toBe(201);
    expect(res.body.credential).toMatchObject({
      type: 'secret_values',
      revocation: 'none',
      expires_at: null,
      secrets: {
        'prod/stripe/api-key': { value: STRIPE_KEY, version: 1, env: 'STRIPE_API_KEY', previous: null },
        'prod/stripe/webhook': { value: WEBHOOK, version: 1, env: 'STRIPE_WEBHOOK_SECRET', previous: null },
      },
    });
    const [row] = await broker.services.store.audit.query({ jti: res.body.id, type: 'credential.issued', limit: 1 });
    expect(row?.details?.['secrets']).toEqual([
      { path: 'prod/stripe/api-key', version: 1 },
      { path: 'prod/stripe/webhook', version: 1 },
    ]);
    expect(row?.details?.['downstream']).toMatchObject({ type: 'secret_values', revocation: 'none', fingerprint: null });
    // The generated value reaches only the caller that reads it.
    const pepper = await read(['prod/db/pepper'], 'db-secrets');
    expect(pepper.body.credential.secrets['prod/db/pepper'].value).toMatch(/^[A-Za-z0-9]{48}$/);
    const logged = await everythingLogged();
    for (const value of [STRIPE_KEY, WEBHOOK, 'correct horse battery staple', pepper.body.credential.secrets['prod/db/pepper'].value]) {
      expect(logged).not.toContain(value);
    }
  });

  it('a backend serves only the paths its scopes cover; unknown paths are 404 and audited', async () => {
    expect((await read(['prod/db/password'])).body.error.code).toBe('ERR_SCOPE_DENIED');
    expect((await read(['prod/stripe/../db/password'])).body.error.code).toBe('ERR_SCOPE_INVALID');
    expect((await read(['prod/stripe/a:b'])).body.error.code).toBe('ERR_SCOPE_INVALID');
    const missing = await read(['prod/stripe/nope']);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ERR_SECRET_NOT_FOUND');
    const [denied] = await broker.services.store.audit.query({ agent: 'billing', type: 'credential.denied', limit: 1 });
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'ERR_SECRET_NOT_FOUND', backend: 'stripe', scopes: ['prod/stripe/nope'] });
    // The same path through another backend that covers it (one namespace), not granted to this agent.
    expect((await read(['prod/stripe/api-key'], 'db-secrets')).body.error.code).toBe('ERR_SCOPE_DENIED');
  });

  it('rotate: the new value at once, the previous for the grace of the backend it is read through, then erased', async () => {
    const rotated = await op(['secret', 'rotate', 'prod/stripe/api-key', '--json'], 'sk_live_rotated_value_0002\n');
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout) as { version: number; previous_version: number; previous_readable_until: string };
    expect(result).toMatchObject({ version: 2, previous_version: 1 });
    // The longest grace of the backends serving the path: stripe's hour, not db-secrets' 10 minutes.
    const until = Date.parse(result.previous_readable_until) / 1000;
    expect(until - Math.floor(Date.now() / 1000)).toBeGreaterThan(3590);

    const now = await read(['prod/stripe/api-key']);
    expect(now.body.credential.secrets['prod/stripe/api-key']).toMatchObject({
      value: 'sk_live_rotated_value_0002',
      version: 2,
      previous: { value: STRIPE_KEY, version: 1 },
    });
    const [row] = await broker.services.store.audit.query({ jti: now.body.id, type: 'credential.issued', limit: 1 });
    expect(row?.details?.['secrets']).toEqual([{ path: 'prod/stripe/api-key', version: 2, previous_version: 1 }]);

    broker.clock.advance(3601);
    const later = await read(['prod/stripe/api-key']);
    expect(later.body.credential.secrets['prod/stripe/api-key']).toMatchObject({ version: 2, previous: null });
    // The sweep (the reaper's, or this one if it has not run yet) erases what no backend may hand out any more.
    await broker.services.backends.get('stripe')!.sweep!(nowSeconds(broker.clock));
    const history = JSON.parse((await op(['secret', 'history', 'prod/stripe/api-key', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(history.map((v) => [v['version'], v['erased'], v['superseded_at'] !== null])).toEqual([
      [1, true, true],
      [2, false, false],
    ]);
    const table = await op(['secret', 'history', 'prod/stripe/api-key']);
    expect(table.stdout).toMatch(/^VERSION\s+CREATED_AT/);
    expect(table.stdout).not.toContain('sk_live');
  });

  it('delete tombstones the path: reads are 404, history and the audit trail remain', async () => {
    const deleted = await op(['secret', 'delete', 'prod/stripe/webhook']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await read(['prod/stripe/webhook'])).body.error.code).toBe('ERR_SECRET_NOT_FOUND');
    const wildcard = await read(['prod/stripe/*']);
    expect(Object.keys(wildcard.body.credential.secrets)).toEqual(['prod/stripe/api-key']);
    expect((await op(['secret', 'list', '--json'])).stdout).not.toContain('prod/stripe/webhook');
    expect((await op(['secret', 'list', '--deleted'])).stdout).toMatch(/prod\/stripe\/webhook .*\d{4}-\d\d-\d\dT/);
    expect((await op(['secret', 'delete', 'prod/stripe/webhook'])).stderr).toMatch(/ERR_SECRET_NOT_FOUND/);
    expect((await op(['secret', 'rotate', 'prod/stripe/webhook', '--generate', '20'])).stderr).toMatch(/ERR_SECRET_NOT_FOUND/);
    // Written again, it continues the numbering.
    expect((await op(['secret', 'put', 'prod/stripe/webhook'], 'whsec_new')).stdout).toBe('stored prod/stripe/webhook version 2\n');

    const writes = await broker.services.store.audit.query({ limit: 1000, order: 'asc' });
    const secretRows = writes.filter((r) => r.type.startsWith('secret.'));
    expect(secretRows.map((r) => [r.type, r.details?.['path'], r.details?.['version']])).toEqual([
      ['secret.created', 'prod/stripe/api-key', 1],
      ['secret.created', 'prod/stripe/webhook', 1],
      ['secret.created', 'prod/db/password', 1],
      ['secret.created', 'prod/db/pepper', 1],
      ['secret.created', 'staging/nobody-serves-this', 1],
      ['secret.rotated', 'prod/stripe/api-key', 2],
      ['secret.deleted', 'prod/stripe/webhook', 1],
      ['secret.created', 'prod/stripe/webhook', 2],
    ]);
    expect(secretRows.every((r) => r.actor === 'cli' && r.outcome === 'success')).toBe(true);
    expect(await everythingLogged()).not.toContain('whsec_new');
    expect((await op(['audit', 'verify'])).code).toBe(0);
  });

  it('list --due shows what is older than max_age', async () => {
    expect((await op(['secret', 'list', '--due'])).stdout).toBe('(none due)\n');
    const due = await runCli(['secret', 'list', '--due', '--json', '--config', broker.configPath], broker.env);
    expect(JSON.parse(due.stdout)).toEqual([]);
    // 91 days on, stripe's paths are due (max_age 90d); db-secrets sets none.
    const clock = { now: () => Date.now() + 91 * 86_400_000 };
    const { listSecrets } = await import('../../../src/secrets/list.js');
    const summaries = await listSecrets({ ...broker.services, clock });
    expect(summaries.filter((s) => s.due).map((s) => s.path)).toEqual(['prod/stripe/api-key', 'prod/stripe/webhook']);
  });

  it('creddy exec starts a command with the values under their env names and no CREDDY_TOKEN; --format env prints them', async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token };
    const exec = await runCli(
      [
        'exec',
        'stripe',
        '--scopes',
        'prod/stripe/*',
        '--',
        'sh',
        '-c',
        'printf "%s|%s|%s" "$STRIPE_API_KEY" "$STRIPE_WEBHOOK_SECRET" "${CREDDY_TOKEN:-none}"',
      ],
      env,
    );
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe('sk_live_rotated_value_0002|whsec_new|none');
    const unnamed = await runCli(['exec', 'db-secrets', '--scopes', 'prod/db/*', '--', 'true'], env);
    expect(unnamed.stderr).toMatch(/not in the environment \(no env name in the backend's config\): prod\/db\/password, prod\/db\/pepper/);
    // --format env leaves the same paths out, and says so too (on stderr: stdout goes to eval).
    const unnamedEnv = await runCli(['get', 'db-secrets', '--scopes', 'prod/db/*', '--format', 'env'], env);
    expect(unnamedEnv.code, unnamedEnv.stderr).toBe(0);
    expect(unnamedEnv.stderr).toMatch(
      /not in the environment \(no env name in the backend's config\): prod\/db\/password, prod\/db\/pepper/,
    );
    expect(unnamedEnv.stdout).not.toContain('prod/db');

    const printed = await runCli(['get', 'stripe', '--scopes', 'prod/stripe/*', '--format', 'env'], env);
    expect(printed.stdout).toMatch(/^export STRIPE_API_KEY='sk_live_rotated_value_0002'$/m);
    expect(printed.stdout).toMatch(/^export STRIPE_WEBHOOK_SECRET='whsec_new'$/m);
    const one = await runCli(['get', 'stripe', '--scopes', 'prod/stripe/api-key'], env);
    expect(one.stdout).toBe('sk_live_rotated_value_0002\n');
    const several = await runCli(['get', 'stripe', '--scopes', 'prod/stripe/*'], env);
    expect(several.stderr).toMatch(/holds 2 secrets: use --format env/);
  });

  it('creddy/client secret(path): one issuance per credential lifetime, like get', async () => {
    const client = createCreddyClient({ url: broker.url, auth: token, secretBackend: 'stripe' });
    const before = (await broker.services.store.audit.query({ agent: 'billing', type: 'credential.issued', limit: 1000 })).length;
    const first = await client.secret('prod/stripe/api-key');
    const second = await client.secret('prod/stripe/api-key');
    expect(first).toMatchObject({ path: 'prod/stripe/api-key', value: 'sk_live_rotated_value_0002', version: 2, env: 'STRIPE_API_KEY' });
    expect(second).toEqual(first);
    const after = (await broker.services.store.audit.query({ agent: 'billing', type: 'credential.issued', limit: 1000 })).length;
    expect(after - before).toBe(1);
    await expect(client.secret('prod/stripe/nope')).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    // A wildcard names no one secret: refused before the broker issues (and reveals) every one under it.
    const issuedBefore = (await broker.services.store.audit.query({ agent: 'billing', type: 'credential.issued', limit: 1000 })).length;
    await expect(client.secret('prod/stripe/*')).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(client.secret('prod/*')).rejects.toMatchObject({ code: 'ERR_USAGE' });
    expect((await broker.services.store.audit.query({ agent: 'billing', type: 'credential.issued', limit: 1000 })).length).toBe(
      issuedBefore,
    );
    await expect(createCreddyClient({ url: broker.url, auth: token }).secret('prod/stripe/api-key')).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
  });
});

describe('type: secret, an emergency rotation', () => {
  // A broker of its own: the one above has moved its clock past the graces, while the CLI
  // rotates at the real time.
  let fresh: TestBroker;
  beforeAll(async () => {
    fresh = await startBroker({ backends: '  vault:\n    type: secret\n    allowed_scopes: ["app/*"]\n    grace: 1h' });
  });
  afterAll(async () => fresh?.stop());

  it('rotate --grace 0 cuts off every old value, also one still inside the grace of an earlier rotation', async () => {
    const cli = (args: string[], input: string) => runCli([...args, '--config', fresh.configPath], fresh.env, input);
    const reader = await fresh.agent('reader', 'vault:app/*');
    const path = 'app/api-key';
    expect((await cli(['secret', 'put', path], 'sk_live_leaked_value_0001\n')).code).toBe(0);
    expect((await cli(['secret', 'rotate', path], 'sk_live_middle_value_0002\n')).code).toBe(0);
    const routine = await issue(fresh.url, reader, { backend: 'vault', scopes: [path] });
    expect(routine.body.credential.secrets[path]).toMatchObject({ version: 2, previous: { version: 1 } });

    const emergency = await cli(['secret', 'rotate', path, '--grace', '0'], 'sk_live_fresh_value_0003\n');
    expect(emergency.code, emergency.stderr).toBe(0);
    const after = await issue(fresh.url, reader, { backend: 'vault', scopes: [path] });
    expect(after.body.credential.secrets[path]).toMatchObject({ value: 'sk_live_fresh_value_0003', version: 3, previous: null });
    expect(JSON.stringify(after.body)).not.toContain('sk_live_leaked');
  });
});
