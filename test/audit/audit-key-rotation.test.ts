import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

const newKey = (): string => randomBytes(32).toString('hex');
/** The key id rows record (a hash prefix of the key, as creddy derives it). */
const keyId = (hex: string): string =>
  createHash('sha256').update('creddy-audit-key-id:').update(Buffer.from(hex, 'hex')).digest('hex').slice(0, 16);

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/**
 * Two audit key changes in a row (K1 → K2 → K3): the rows each key sealed stay in the log, so
 * every earlier key stays configured, as a list in CREDDY_AUDIT_KEY_PREVIOUS (or one per line in
 * _PREVIOUS_FILE). A key left out is a configuration error named by its id, not tampering.
 */
describe('audit key rotation, twice', () => {
  const [k1, k2, k3] = [newKey(), newKey(), newKey()];
  let broker: TestBroker;
  let first: string;
  let second: string;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli([...args, '--config', broker.configPath], { ...broker.env, ...env });
  const doctor = async (env: NodeJS.ProcessEnv = {}) => {
    const r = await cli(['doctor', '--json'], env);
    return (JSON.parse(r.stdout) as { checks: Check[] }).checks.filter((c) => c.check === 'audit key');
  };
  const issues = async (token: string) => (await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status;

  beforeAll(async () => {
    broker = await startBroker({ env: { CREDDY_AUDIT_KEY: k1 } });
    first = await broker.agent('first', 'demo:read');
    await broker.restart({ CREDDY_AUDIT_KEY: k2, CREDDY_AUDIT_KEY_PREVIOUS: k1 });
    second = await broker.agent('second', 'demo:read');
    const rotated = await cli(['keys', 'rotate', '--force']);
    expect(rotated.code, rotated.stderr).toBe(0);
  });
  afterAll(async () => broker?.stop());

  it('starts with both earlier keys listed, serves agents of every key, and verifies', async () => {
    await broker.restart({ CREDDY_AUDIT_KEY: k3, CREDDY_AUDIT_KEY_PREVIOUS: ` ${k2}, ${k1} ` });
    expect(await issues(first)).toBe(201);
    expect(await issues(second)).toBe(201);
    const verified = await cli(['audit', 'verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, hmac: 'verified', problem: null });
  });

  it('takes the earlier keys one per line from CREDDY_AUDIT_KEY_PREVIOUS_FILE', async () => {
    const file = join(broker.dir, 'previous-audit-keys');
    writeFileSync(file, `${k2}\n${k1}\n`, { mode: 0o600 });
    const verified = await cli(['audit', 'verify'], { CREDDY_AUDIT_KEY_PREVIOUS: undefined, CREDDY_AUDIT_KEY_PREVIOUS_FILE: file });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^audit log verified: /);
  });

  it('doctor names each earlier key by id, says which are still needed and which may go', async () => {
    const unused = newKey();
    const checks = await doctor({ CREDDY_AUDIT_KEY_PREVIOUS: `${k2},${k1},${unused}` });
    expect(checks.every((c) => c.status === 'ok')).toBe(true);
    const text = checks.map((c) => c.message).join('\n');
    expect(text).toContain(`id ${keyId(k3)}; previous: ${keyId(k2)}, ${keyId(k1)}, ${keyId(unused)}`);
    expect(text).toMatch(
      new RegExp(
        `previous audit key id ${keyId(k1)} is still needed: it sealed seq 1-\\d+, \\d+ rows; keep it until retention prunes them`,
      ),
    );
    expect(text).toMatch(new RegExp(`previous audit key id ${keyId(k2)} is still needed: it sealed seq \\d+-\\d+, \\d+ rows`));
    expect(text).toContain(`previous audit key id ${keyId(unused)} sealed no row the log still holds: it may be dropped`);
    for (const key of [k1, k2, k3, unused]) expect(JSON.stringify(checks)).not.toContain(key);
  });

  it('a bad entry of the list is named by its position, never echoed', async () => {
    const almost = k1.slice(0, 63);
    const r = await cli(['audit', 'verify'], { CREDDY_AUDIT_KEY_PREVIOUS: `${k2},${almost}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_CONFIG_INVALID: CREDDY_AUDIT_KEY_PREVIOUS, key 2 of 2, must be 64 hex characters');
    expect(r.stderr).not.toContain(almost);
  });

  it('an earlier key left out is reported as a key that is not configured, by id, with the fix — not as tampering', async () => {
    const dropped = { CREDDY_AUDIT_KEY_PREVIOUS: k2 };
    const verify = await cli(['audit', 'verify', '--json'], dropped);
    expect(verify.code).toBe(1);
    const report = JSON.parse(verify.stdout) as { problem: { seq: number; kind: string; unconfigured_keys: unknown[] } };
    expect(report.problem).toMatchObject({ seq: 1, kind: 'unknown-key', unconfigured_keys: [{ key_id: keyId(k1), first_seq: 1 }] });
    const text = await cli(['audit', 'verify'], dropped);
    expect(text.stderr).toMatch(
      new RegExp(
        `ERR_CONFIG_INVALID: audit log NOT verified: rows sealed by an audit key that is not configured: key id ${keyId(k1)} \\(seq 1-\\d+`,
      ),
    );
    expect(text.stderr).toContain('add the key to CREDDY_AUDIT_KEY_PREVIOUS');

    const failed = (await doctor(dropped)).filter((c) => c.status === 'fail');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toContain(`not configured: key id ${keyId(k1)} (seq 1-`);

    // The signing key in use was recorded under a configured key, so the server starts; it names
    // the key it lacks, and the agents recorded under it only are refused.
    const lines = broker.logLines.length;
    await broker.restart(dropped);
    const logged = broker.logLines.slice(lines).join('\n');
    expect(logged).toMatch(
      new RegExp(`audit key not configured: rows sealed by an audit key that is not configured: key id ${keyId(k1)} \\(seq 1-\\d+`),
    );
    expect(logged).not.toContain('failed its HMAC check');
    expect(logged).toContain(`"key_id":"${keyId(k1)}"`);
    expect(await issues(first)).toBe(401);
    expect(await issues(second)).toBe(201);
  });
});

/**
 * Moving off the development key: once CREDDY_AUDIT_KEY is set the dev key file is no longer read,
 * so the rows it sealed need it named as a previous key — a copy kept outside data_dir.
 */
describe('moving off the development audit key', () => {
  const configured = newKey();
  let broker: TestBroker;
  let token: string;
  const devPath = () => join(broker.dir, 'data', 'audit.key');

  beforeAll(async () => {
    broker = await startBroker({ env: { CREDDY_AUDIT_KEY: undefined } });
    token = await broker.agent('early', 'demo:read');
  });
  afterAll(async () => broker?.stop());

  it('without the dev key named, the server refuses to start and doctor says which key it is', async () => {
    const devId = keyId(readFileSync(devPath(), 'utf8').trim());
    const err = await broker.restart({ CREDDY_AUDIT_KEY: configured }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    expect((err as Error).message).toContain(`key id ${devId} (seq 1-`);
    const checks = (
      JSON.parse((await runCli(['doctor', '--json', '--config', broker.configPath], broker.env)).stdout) as { checks: Check[] }
    ).checks;
    const failed = checks.filter((c) => c.check === 'audit key' && c.status === 'fail');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toContain(`key id ${devId} is the development key file ${devPath()}`);
    expect(failed[0]!.message).not.toContain('follow rows');
    expect(failed[0]!.fix).toContain('name the copy in CREDDY_AUDIT_KEY_PREVIOUS_FILE');
  });

  it('with a copy of it as CREDDY_AUDIT_KEY_PREVIOUS_FILE and the file gone, it starts, serves and verifies', async () => {
    const copy = join(broker.dir, 'audit-key.previous');
    copyFileSync(devPath(), copy);
    rmSync(devPath());
    await broker.restart({ CREDDY_AUDIT_KEY: configured, CREDDY_AUDIT_KEY_PREVIOUS_FILE: copy });
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
    const verified = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(verified.code, verified.stderr).toBe(0);
    const checks = (
      JSON.parse((await runCli(['doctor', '--json', '--config', broker.configPath], broker.env)).stdout) as { checks: Check[] }
    ).checks;
    expect(checks.filter((c) => c.check === 'audit key').every((c) => c.status === 'ok')).toBe(true);
  });
});
