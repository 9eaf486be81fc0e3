import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { checkpointsEvery } from './helpers.js';

describe('no secret reaches the database file', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(3) });
  });
  afterAll(async () => broker?.stop());

  it('agent tokens, issued tokens, rejected bearer tokens and the keys never appear in the db or WAL bytes', async () => {
    const canaries: string[] = [broker.env['CREDDY_KEK']!, broker.env['CREDDY_AUDIT_KEY']!];
    const agentToken = await broker.agent('canary', 'demo:read');
    canaries.push(agentToken);
    const cli = await runCli(['agent', 'create', 'canary-cli', '--can', 'demo:read', '--json', '--config', broker.configPath], broker.env);
    canaries.push(JSON.parse(cli.stdout).token);
    for (let i = 0; i < 5; i++) {
      const ok = await issue(broker.url, agentToken, { backend: 'demo', scopes: ['read'], metadata: { task: `t${i}` } });
      expect(ok.status).toBe(201);
      canaries.push(ok.body.token, ok.body.token.split('.')[2]);
    }
    // Bearer tokens that fail auth: a well-formed unknown agent token and a downstream-looking token.
    const unknown = `ckr_${'Q'.repeat(43)}`;
    const downstream = `ghs_${'Z9'.repeat(18)}`;
    for (const bearer of [unknown, downstream]) {
      const r = await fetch(`${broker.url}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: '{"backend":"demo"}',
      });
      expect(r.status).toBe(401);
      canaries.push(bearer);
    }
    await broker.services.auditCheckpoints.checkpointNow();

    const dataDir = join(broker.dir, 'data');
    const files = readdirSync(dataDir).filter((f) => f.startsWith('creddy.db'));
    expect(files).toContain('creddy.db-wal');
    for (const file of files) {
      const bytes = readFileSync(join(dataDir, file));
      for (const canary of canaries) expect(bytes.includes(canary), `${file} holds a secret`).toBe(false);
    }
    // And the audit rows do hold what an auditor needs: the jtis, as ids, not the tokens.
    const rows = await broker.services.store.audit.query({ type: 'credential.issued', limit: 10 });
    expect(rows).toHaveLength(5);
  });
});
