/**
 * SIGTERM while clients issue credentials on keep-alive connections (node:http Agent and fetch),
 * against the built server, one process and `--workers 2`. What a client may see (docs/deploy.md,
 * "Shutdown"): a request sent on an open connection gets its complete response (during the drain
 * with `Connection: close`), never a reset or a hang-up; a new connection made after the signal
 * may be refused, or reset before creddy read anything from it. Once the process has exited, the
 * credentials clients received and the `credential.issued` rows are the same set.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAIN_DEADLINE_MS } from '../../src/http/drain.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';
import { failures, type LoadOutcome, startLoad } from '../helpers/load.js';
import { startWorkers } from '../workers/harness.js';

const CLIENTS = { httpClients: 3, fetchClients: 3 };
/** Credentials issued before the signal: the load is well under way. */
const WARM = 60;

/** Every jti with a `credential.issued` row, read once the server has exited. */
async function auditedJtis(configPath: string, env: NodeJS.ProcessEnv): Promise<Set<string>> {
  const list = await runCli(['audit', 'list', '--type', 'credential.issued', '--json', '--limit', '10000', '--config', configPath], env);
  expect(list.code, list.stderr).toBe(0);
  return new Set((JSON.parse(list.stdout) as Array<{ jti: string }>).map((row) => row.jti));
}

function expectCleanDrain(outcomes: readonly LoadOutcome[], audited: Set<string>): void {
  expect(failures(outcomes)).toEqual([]);
  // Every credential a client received has its row, and every row a client that received it: no
  // request was cut after it was served, not even on a connection that was ended.
  const received = outcomes.flatMap((o) => (o.jti ? [o.jti] : []));
  expect(received.filter((jti) => !audited.has(jti))).toEqual([]);
  expect(audited.size).toBe(received.length);
  // The signal really came mid-load: requests in flight at that moment were answered after it.
  expect(outcomes.some((o) => o.afterSignal && o.status === 201)).toBe(true);
  // Both kinds of client took part.
  for (const via of ['http', 'fetch'] as const) {
    expect(outcomes.filter((o) => o.via === via && o.status === 201).length).toBeGreaterThan(0);
  }
}

describe('SIGTERM under keep-alive load', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('one process: every request answered in full or refused on a new connection; exit 0; every jti audited', async () => {
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data') }));
    const env = testEnv();
    const created = await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', configPath], env);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const server = await spawnServer(configPath, env);

    const load = startLoad(server.url, token, CLIENTS);
    try {
      await load.issued(WARM);
      const signalledAt = Date.now();
      load.signalled();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(DRAIN_DEADLINE_MS);
      await load.done;
    } finally {
      load.stop();
      server.child.kill('SIGKILL');
    }

    expectCleanDrain(load.outcomes, await auditedJtis(configPath, env));
    const verify = await runCli(['audit', 'verify', '--config', configPath], env);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('--workers 2: the same, from both workers', async () => {
    const set = await startWorkers('sqlite');
    try {
      const token = await set.agent('bot', 'demo:read');
      const load = startLoad(set.url, token, CLIENTS);
      try {
        await load.issued(WARM);
        const signalledAt = Date.now();
        load.signalled();
        expect(await set.stop()).toBe(0);
        expect(Date.now() - signalledAt).toBeLessThan(DRAIN_DEADLINE_MS);
        await load.done;
      } finally {
        load.stop();
      }
      expectCleanDrain(load.outcomes, await auditedJtis(set.configPath, set.env));
      const verify = await set.cli('audit', 'verify');
      expect(verify.code, verify.stderr).toBe(0);
    } finally {
      await set.cleanup();
    }
  });
});
