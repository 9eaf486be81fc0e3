/**
 * How secret values are kept: sealed under the KEK with AAD bound to path and version, so the
 * database file alone reveals nothing and a value moved to another row fails closed; `creddy keys
 * rewrap` re-seals them under a new KEK, after which the old one is no longer needed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { createApp } from '../../../src/http/app.js';
import { putSecret, rotateSecret } from '../../../src/secrets/write.js';
import { createServices } from '../../../src/services.js';
import { runCli } from '../../helpers/cli.js';
import { openServices, silentLogger, type TestServices } from '../../helpers/harness.js';

const BACKENDS = `  vault:
    type: secret
    allowed_scopes: ["app/*"]
    grace: 1h`;
const VALUE_A = 'value-of-a-9f8e7d6c5b4a';
const VALUE_B = 'value-of-b-0a1b2c3d4e5f';

let t: TestServices;
let dbPath: string;
let token: string;

beforeAll(async () => {
  t = await openServices({ backends: BACKENDS });
  dbPath = join(t.dir, 'data', 'creddy.db');
  token = await t.agent('reader', 'vault:app/*');
  await putSecret(t.services, { path: 'app/a', value: VALUE_A, generated: false, actor: 'cli' });
  await putSecret(t.services, { path: 'app/b', value: VALUE_B, generated: false, actor: 'cli' });
});
afterAll(async () => {
  await t.close();
});

async function read(services: TestServices['services'], scopes: string[]): Promise<{ status: number; body: any }> {
  const response = await createApp(services).request('/v1/credentials', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ backend: 'vault', scopes }),
  });
  return { status: response.status, body: await response.json() };
}

describe('sealed secret values', () => {
  it('the database file holds no value in the clear', async () => {
    await t.services.store.ping();
    for (const suffix of ['', '-wal']) {
      const bytes = (() => {
        try {
          return readFileSync(dbPath + suffix);
        } catch {
          return Buffer.alloc(0);
        }
      })();
      expect(bytes.includes(VALUE_A)).toBe(false);
      expect(bytes.includes(VALUE_B)).toBe(false);
    }
  });

  it('a sealed value moved to another path or version fails closed, and the failure is audited', async () => {
    const raw = new Database(dbPath);
    try {
      const rows = raw
        .prepare("SELECT id, path, sealed FROM secret_versions WHERE path IN ('app/a', 'app/b') ORDER BY path")
        .all() as Array<{
        id: string;
        sealed: Buffer;
      }>;
      const [a, b] = rows;
      // An editor of the file swaps the two values: without the KEK they cannot re-seal them.
      raw.prepare('UPDATE secret_versions SET sealed = ? WHERE id = ?').run(b!.sealed, a!.id);
      const swapped = await read(t.services, ['app/a']);
      expect(swapped.status).toBe(500);
      expect(JSON.stringify(swapped.body)).not.toContain(VALUE_B);
      const [denied] = await t.services.store.audit.query({ agent: 'reader', type: 'credential.denied', limit: 1 });
      // Not ERR_KEK_INVALID: the KEK that sealed it is loaded; the row is what fails (issue 15).
      expect(swapped.body.error.code).toBe('ERR_SECRET_INTEGRITY');
      expect(denied?.reason).toBe('ERR_SECRET_INTEGRITY');
      expect(denied?.details).toMatchObject({ path: 'app/a', version: 1 });
      raw.prepare('UPDATE secret_versions SET sealed = ? WHERE id = ?').run(a!.sealed, a!.id);
      expect((await read(t.services, ['app/a'])).body.credential.secrets['app/a'].value).toBe(VALUE_A);
    } finally {
      raw.close();
    }
  });

  it('keys rewrap re-seals every held value under the new KEK; the old KEK is then not needed', async () => {
    await rotateSecret(t.services, { path: 'app/a', value: 'value-of-a-v2', generated: false, actor: 'cli' });
    const newKek = randomBytes(32).toString('hex');
    const rotating = { ...t.env, CREDDY_KEK: newKek, CREDDY_KEK_PREVIOUS: t.env['CREDDY_KEK'] };
    const rewrap = await runCli(['keys', 'rewrap', '--json', '--config', t.configPath], rotating);
    expect(rewrap.code, rewrap.stderr).toBe(0);
    // app/a v1 (in its grace), app/a v2 and app/b.
    expect(JSON.parse(rewrap.stdout)).toMatchObject({ secret_values_rewrapped: 3 });
    const rows = await t.services.store.audit.query({ type: 'secret.rewrapped', limit: 10, order: 'asc' });
    expect(rows.map((r) => [r.details?.['path'], r.details?.['version']]).sort()).toEqual([
      ['app/a', 1],
      ['app/a', 2],
      ['app/b', 1],
    ]);
    // Idempotent: nothing left to do.
    expect(JSON.parse((await runCli(['keys', 'rewrap', '--json', '--config', t.configPath], rotating)).stdout)).toMatchObject({
      secret_values_rewrapped: 0,
    });

    const services = await createServices(loadConfig(t.configPath, { ...t.env, CREDDY_KEK: newKek }), {
      env: { ...t.env, CREDDY_KEK: newKek },
      logger: silentLogger,
      actor: 'cli',
    });
    try {
      const res = await read(services, ['app/*']);
      expect(res.status).toBe(201);
      expect(res.body.credential.secrets['app/a']).toMatchObject({ value: 'value-of-a-v2', previous: { value: VALUE_A } });
      expect(res.body.credential.secrets['app/b'].value).toBe(VALUE_B);
    } finally {
      await services.close();
    }
  });

  it('a credential holds at most 100 secrets: a broader wildcard is refused before any value is opened', async () => {
    for (let i = 0; i < 101; i++) {
      await putSecret(t.services, { path: `app/many/k${String(i).padStart(3, '0')}`, value: `v${i}`, generated: false, actor: 'cli' });
    }
    const res = await read(t.services, ['app/many/*']);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_SCOPE_INVALID' });
    expect(res.body.error.message).toMatch(/cover 101 secrets; at most 100/);
    expect((await read(t.services, ['app/many/k00*'])).status).toBe(201);
  });
});
