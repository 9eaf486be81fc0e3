import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFromHex } from '../../src/_utils/secret-key.js';
import { loadKeks } from '../../src/keys/kek.js';
import { runCli } from '../helpers/cli.js';
import { issue, silentLogger, startBroker, type TestBroker } from '../helpers/harness.js';

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/**
 * A development KEK file (`<data_dir>/kek`) beside a configured CREDDY_KEK is never read as a KEK:
 * neither as the current one nor as a fallback. Doctor points out the leftover.
 */
describe('a development KEK file beside CREDDY_KEK', () => {
  let broker: TestBroker;
  const planted = randomBytes(32).toString('hex');
  const plantedId = keyFromHex(planted, 'planted', { idLabel: 'creddy-kek-id', code: 'ERR_KEK_INVALID' }).id;
  const devKek = () => join(broker.dir, 'data', 'kek');

  beforeAll(async () => {
    broker = await startBroker();
    writeFileSync(devKek(), `${planted}\n`, { mode: 0o600 });
  });
  afterAll(async () => broker?.stop());

  it('is not loaded: the server keeps sealing and opening with CREDDY_KEK', async () => {
    const keks = loadKeks({ env: broker.env, dataDir: join(broker.dir, 'data'), logger: silentLogger, createDevKek: false });
    expect(keks.current.id).not.toBe(plantedId);
    expect(keks.byId(plantedId)).toBeUndefined();
    await broker.restart();
    const token = await broker.agent('reader', 'demo:read');
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
  });

  it('doctor reports the configured KEK and warns about the leftover file', async () => {
    const r = await runCli(['doctor', '--json', '--config', broker.configPath], broker.env);
    const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks.filter((c) => c.check === 'kek');
    expect(checks[0]).toMatchObject({ status: 'ok', message: expect.stringMatching(/^from CREDDY_KEK, id [0-9a-f]{16}$/) });
    expect(checks[0]!.message).not.toContain(plantedId);
    expect(checks.find((c) => c.status === 'warn')?.message).toBe(
      `a development KEK file ${devKek()} exists beside the configured KEK; it is not used`,
    );
    expect(r.stdout).not.toContain(planted);
  });
});
