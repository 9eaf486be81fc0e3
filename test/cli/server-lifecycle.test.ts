import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer } from '../helpers/cli.js';
import { demoYaml, tempDir, testEnv } from '../helpers/harness.js';

describe('creddy server process', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('drains in-flight requests on SIGTERM: every 201 has its audit row, exit code 0', async () => {
    const configPath = join(dir, 'creddy.yaml');
    writeFileSync(configPath, demoYaml({ dataDir: join(dir, 'data') }));
    const env = testEnv();
    const { token } = JSON.parse(
      (await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', configPath], env)).stdout,
    );

    const { url, child: server, exited } = await spawnServer(configPath, env);

    let signalled = false;
    const requests = Array.from({ length: 60 }, () =>
      fetch(`${url}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ backend: 'demo' }),
      }).then(
        async (r) => {
          // SIGTERM as soon as the first answer is out, while the rest are still in flight.
          if (!signalled) {
            signalled = true;
            server.kill('SIGTERM');
          }
          return { status: r.status, id: r.status === 201 ? ((await r.json()) as { id: string }).id : null };
        },
        () => ({ status: 0, id: null }), // refused after close: never half-served
      ),
    );
    const results = await Promise.all(requests);
    expect(await exited).toBe(0);

    const issued = results.filter((r) => r.status === 201).map((r) => r.id);
    expect(results.every((r) => r.status === 201 || r.status === 0)).toBe(true);
    expect(issued.length).toBeGreaterThan(0);
    const audit = JSON.parse(
      (await runCli(['audit', 'list', '--type', 'credential.issued', '--json', '--limit', '1000', '--config', configPath], env)).stdout,
    ) as Array<{ jti: string }>;
    expect(audit.map((row) => row.jti).sort()).toEqual([...issued].sort());
  });

  it('stores signed checkpoints on its audit worker: every `checkpoint_every` rows and at shutdown, all verified', async () => {
    const configPath = join(dir, 'checkpoints.yaml');
    const dataDir = join(dir, 'checkpoints');
    writeFileSync(configPath, demoYaml({ dataDir, extra: 'audit:\n  checkpoint_every: 5\n  checkpoint_interval: 1h' }));
    const env = testEnv();
    const { token } = JSON.parse(
      (await runCli(['agent', 'create', 'bot', '--can', 'demo:read', '--json', '--config', configPath], env)).stdout,
    );
    const { url, child: server, exited } = await spawnServer(configPath, env);
    for (let round = 0; round < 5; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 8 }, () =>
          fetch(`${url}/v1/credentials`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ backend: 'demo' }),
          }).then((r) => r.status),
        ),
      );
      expect(statuses.every((s) => s === 201)).toBe(true);
    }
    server.kill('SIGTERM');
    expect(await exited).toBe(0);

    const db = new Database(join(dataDir, 'creddy.db'), { readonly: true });
    const checkpoints = db.prepare('SELECT seq FROM audit_checkpoints ORDER BY seq').pluck().all() as number[];
    const last = db.prepare('SELECT max(seq) FROM audit_events').pluck().get() as number;
    db.close();
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(checkpoints.at(-1)).toBe(last);
    const verify = await runCli(['audit', 'verify', '--config', configPath], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit log verified/);
  });
});
