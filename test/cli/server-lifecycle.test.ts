import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
});
