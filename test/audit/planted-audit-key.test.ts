import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePrivateFile } from '../../src/_utils/fs.js';
import { keyFromHex } from '../../src/_utils/secret-key.js';
import { agentFacts } from '../../src/agents/facts.js';
import { createSealer } from '../../src/audit/chain.js';
import { loadConfig } from '../../src/config/load.js';
import { newKeyRecord } from '../../src/keys/new-key.js';
import { auditEvent } from '../../src/model/audit.js';
import { openStore } from '../../src/store/open-store.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/** The id an audit key file's rows carry (a hash prefix of the key, as creddy derives it). */
const auditKeyId = (path: string): string =>
  createHash('sha256')
    .update('creddy-audit-key-id:')
    .update(Buffer.from(readFileSync(path, 'utf8').trim(), 'hex'))
    .digest('hex')
    .slice(0, 16);

/**
 * The attacker: write access to data_dir, none of the operator's keys. Plants `audit.key`, then,
 * through the store as creddy itself would write it, widens an agent's grants to `demo:*` and adds
 * a signing key of its own (retired, so published at once), each with its audit row sealed by the
 * planted key. Returns the planted signing key's kid.
 */
async function forge(broker: TestBroker, agentName: string): Promise<string> {
  const hex = randomBytes(32).toString('hex');
  writePrivateFile(join(broker.dir, 'data', 'audit.key'), `${hex}\n`);
  const seal = createSealer(keyFromHex(hex, 'planted', { idLabel: 'creddy-audit-key-id', code: 'ERR_CONFIG_INVALID' }));
  const store = await openStore(loadConfig(broker.configPath, {}).store);
  try {
    const now = Date.now();
    const agent = { ...(await store.agents.byName(agentName))!, grants: [{ backend: 'demo', scope: '*' }] };
    await store.audit.append(
      [
        {
          change: { kind: 'agent.update', id: agent.id, tokenHash: agent.tokenHash, grants: agent.grants, expiresAt: agent.expiresAt },
          event: auditEvent({
            time: now,
            type: 'agent.updated',
            outcome: 'success',
            actor: 'cli',
            agent: agent.name,
            details: { ...agentFacts(agent), changed: ['grants'] },
          }),
        },
      ],
      seal,
    );
    // A key of its own, sealed under a KEK of its own: it needs only the public half published.
    const ownKek = keyFromHex(randomBytes(32).toString('hex'), 'own', { idLabel: 'creddy-kek-id', code: 'ERR_KEK_INVALID' });
    const key = newKeyRecord({ current: ownKek, previous: undefined, byId: () => undefined }, 'retired', Math.floor(now / 1000));
    const record = { ...key, activatedAt: key.createdAt, retiredAt: key.createdAt };
    const applied = await store.keys.apply([{ op: 'insert', key: record }], {
      events: [
        auditEvent({ time: now, type: 'key.created', outcome: 'success', actor: 'cli', kid: record.kid, details: { state: 'retired' } }),
      ],
      seal,
    });
    expect(applied).toBe(true);
    return record.kid;
  } finally {
    await store.close();
  }
}

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

/**
 * Someone who can write data_dir but holds neither CREDDY_AUDIT_KEY nor CREDDY_KEK runs the CLI
 * there: with no key in its environment it creates `<data_dir>/audit.key` (and a dev KEK) and
 * seals its rows with them, while changing the tables to match — a grant widened, a signing key
 * of its own. The development key file must not be trusted beside a configured audit key: the
 * server refuses the forged state (after a restart too), verify fails, doctor says what happened.
 */
describe('a development audit key file planted beside a configured audit key', () => {
  let broker: TestBroker;
  let token: string;
  let plantedKid: string;
  const devKey = () => join(broker.dir, 'data', 'audit.key');
  const kids = async () =>
    ((await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  beforeAll(async () => {
    broker = await startBroker();
    token = await broker.agent('worker', 'demo:read');
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['write'] })).status).toBe(403);
    plantedKid = await forge(broker, 'worker');
  });
  afterAll(async () => broker?.stop());

  it('the running server refuses the widened grant and never publishes the planted signing key', async () => {
    const r = await issue(broker.url, token, { backend: 'demo', scopes: ['write'] });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('ERR_UNAUTHENTICATED');
    // The keyring re-reads keys every second: give it two.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    expect(await kids()).not.toContain(plantedKid);
    const line = broker.logLines.find((l) => l.includes('sealed by an audit key that is not configured'));
    expect(line).toContain(auditKeyId(devKey()));
    expect(broker.logLines.join('\n')).not.toContain(readFileSync(devKey(), 'utf8').trim());
  });

  it('audit verify fails, naming the key id that sealed the forged rows', async () => {
    const r = await runCli(['audit', 'verify', '--json', '--config', broker.configPath], broker.env);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; problem: { kind: string; unconfigured_keys: Array<{ key_id: string }> } };
    expect(report.ok).toBe(false);
    expect(report.problem.kind).toBe('unknown-key');
    expect(report.problem.unconfigured_keys.map((k) => k.key_id)).toEqual([auditKeyId(devKey())]);
    const text = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(text.stderr).toMatch(/rows sealed by an audit key that is not configured: key id [0-9a-f]{16} \(seq \d+-\d+, \d+ rows\)/);
  });

  it('doctor warns about the file and fails on the rows it sealed, saying they follow rows of the configured key', async () => {
    const r = await runCli(['doctor', '--json', '--config', broker.configPath], broker.env);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks.filter((c) => c.check === 'audit key');
    const id = auditKeyId(devKey());
    expect(checks.find((c) => c.status === 'warn')?.message).toMatch(
      new RegExp(`development audit key file .*audit\\.key \\(id ${id}\\).*not trusted`),
    );
    expect(checks.find((c) => c.status === 'fail')?.message).toMatch(new RegExp(`key id ${id} .*follow rows sealed by a configured key`));
  });

  it('a restarted server starts (a forged row must not stop every replica), names the key id, and trusts nothing it sealed', async () => {
    const id = auditKeyId(devKey());
    const lines = broker.logLines.length;
    await broker.restart();
    const logged = broker.logLines.slice(lines).find((l) => l.includes('audit key not configured'));
    expect(logged).toContain(`key id ${id}`);
    expect(logged).toContain('CREDDY_AUDIT_KEY_PREVIOUS');
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['write'] })).status).toBe(401);
    expect(await kids()).not.toContain(plantedKid);
  });
});
