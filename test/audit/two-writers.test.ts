import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin, runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { checkpointsEvery } from './helpers.js';

describe('server and CLI appending at once keep one linear chain', () => {
  // The CLI runs as its own process here: the point is two processes writing one database.
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(7) });
  });
  afterAll(async () => broker?.stop());

  it('interleaved writes from two processes form seq 1..n with unbroken prev_hash links', async () => {
    const token = await broker.agent('load', 'demo:read');
    let stop = false;
    const load = (async () => {
      let n = 0;
      while (!stop) {
        const batch = await Promise.all(Array.from({ length: 8 }, () => issue(broker.url, token, { backend: 'demo', scopes: ['read'] })));
        for (const r of batch) expect(r.status).toBe(201);
        n += batch.length;
      }
      return n;
    })();
    // Six CLI processes at once, each appending while the server does.
    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runBin(['agent', 'create', `cli-${i}`, '--can', 'demo:read', '--config', broker.configPath], broker.env),
      ),
    );
    for (const r of created) expect(r.code, r.stderr).toBe(0);
    stop = true;
    expect(await load).toBeGreaterThan(0);

    const rows = await broker.services.store.audit.query({ order: 'asc', limit: 100_000 });
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    for (const [i, r] of rows.entries()) expect(r.prevHash).toBe(i === 0 ? '0'.repeat(64) : rows[i - 1]!.hash);
    expect(rows.filter((r) => r.actor === 'cli' && r.type === 'agent.created').length).toBeGreaterThanOrEqual(6);
    expect(rows.filter((r) => r.type === 'credential.issued').length).toBeGreaterThan(0);

    const verify = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit log verified/);
  });
});
