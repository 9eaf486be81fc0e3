/**
 * Where /metrics is served (`metrics_listen`): on the main port by default, on an address of its
 * own (and then not on the main port), or nowhere; and how a bad or taken address is reported.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type CreddyError, isCreddyError } from '../../src/errors.js';
import { runCli, spawnServer } from '../helpers/cli.js';
import { demoYaml, eventually, issue, startBroker, tempDir, testEnv } from '../helpers/harness.js';
import { sampleValue, scrape } from '../helpers/metrics.js';

describe('metrics_listen', () => {
  it('absent: /metrics on the main port', async () => {
    const broker = await startBroker({ metrics: true });
    try {
      expect(broker.server.metricsUrl).toBeUndefined();
      expect((await scrape(broker.url)).status).toBe(200);
    } finally {
      await broker.stop();
    }
  });

  it('HOST:PORT: /metrics there, counting what the main port issues, and a 404 on the main port', async () => {
    const broker = await startBroker({ metrics: true, extra: 'metrics_listen: 127.0.0.1:0' });
    try {
      const own = broker.server.metricsUrl!;
      expect(own).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(own).not.toBe(broker.url);
      const token = await broker.agent('a', 'demo:read');
      expect((await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);

      const main = await fetch(`${broker.url}/metrics`);
      expect(main.status).toBe(404);
      expect(((await main.json()) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND');

      const scraped = await scrape(own);
      expect(scraped.status).toBe(200);
      expect(sampleValue(scraped.text, 'creddy_issuances_total', { backend: 'demo', outcome: 'issued' })).toBe(1);
      // The metrics address serves nothing else.
      for (const path of ['/healthz', '/.well-known/jwks.json', '/v1/credentials']) {
        const res = await fetch(`${own}${path}`);
        expect(res.status, path).toBe(404);
        await res.arrayBuffer();
      }
    } finally {
      await broker.stop();
    }
  });

  it('off: no /metrics anywhere', async () => {
    const broker = await startBroker({ metrics: true, extra: 'metrics_listen: off' });
    try {
      expect(broker.server.metricsUrl).toBeUndefined();
      const res = await fetch(`${broker.url}/metrics`);
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    } finally {
      await broker.stop();
    }
  });

  it('a taken address fails the start with ERR_LISTEN_FAILED naming metrics_listen', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const err = await startBroker({ metrics: true, extra: `metrics_listen: 127.0.0.1:${port}` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCreddyError(err, 'ERR_LISTEN_FAILED')).toBe(true);
      expect((err as CreddyError).message).toContain(`metrics_listen 127.0.0.1:${port} is already in use`);
    } finally {
      taken.close();
    }
  });

  it('creddy server prints where metrics_listen serves, after the listening line', async () => {
    const { dir, cleanup } = tempDir('creddy-metrics-');
    const configPath = `${dir}/creddy.yaml`;
    writeFileSync(configPath, demoYaml({ dataDir: `${dir}/data`, extra: 'metrics_listen: 127.0.0.1:0' }));
    const server = await spawnServer(configPath, testEnv());
    try {
      await eventually(() => /creddy metrics on /.test(server.stdout()));
      const [first, second] = server.stdout().split('\n');
      expect(first).toBe(`creddy listening on ${server.url}`);
      const url = /^creddy metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics$/.exec(second!)![1]!;
      expect((await scrape(url)).status).toBe(200);
      expect((await scrape(server.url)).status).toBe(404);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      cleanup();
    }
  });
});

/** The ERR_CONFIG_INVALID of a config text: its problems by key path. */
function problems(yaml: string): Array<{ path: string; problem: string }> {
  try {
    parseConfig(yaml, '/etc/creddy/creddy.yaml', {});
  } catch (err) {
    if (isCreddyError(err, 'ERR_CONFIG_INVALID')) return err.details?.['problems'] as Array<{ path: string; problem: string }>;
    throw err;
  }
  throw new Error('the config loaded');
}

describe('metrics_listen in the config', () => {
  const load = (line: string) => parseConfig(`listen: 127.0.0.1:8400\n${line}\n`, '/etc/creddy/creddy.yaml', {}).metricsListen;

  it('reads HOST:PORT (IPv6 too), off and false, and defaults to the main port', () => {
    expect(load('')).toEqual({ kind: 'main' });
    expect(load('metrics_listen: 127.0.0.1:9464')).toEqual({ kind: 'own', host: '127.0.0.1', port: 9464 });
    expect(load('metrics_listen: "[::1]:9464"')).toEqual({ kind: 'own', host: '::1', port: 9464 });
    expect(load('metrics_listen: off')).toEqual({ kind: 'off' });
    expect(load('metrics_listen: false')).toEqual({ kind: 'off' });
  });

  it('names the key, with every other problem of the file at once', () => {
    expect(problems('listen: 127.0.0.1:8400\nmetrics_listen: 9464\nlog_level: loud\n')).toEqual([
      { path: 'metrics_listen', problem: 'must be HOST:PORT (e.g. 127.0.0.1:9464) or off' },
      { path: 'log_level', problem: 'must be one of info, warn, error' },
    ]);
    expect(problems('metrics_listen: 127.0.0.1:99999\n').map((p) => p.path)).toEqual(['metrics_listen']);
    expect(problems('metrics_listen: [a]\n').map((p) => p.path)).toEqual(['metrics_listen']);
    expect(problems('listen: 127.0.0.1:8400\nmetrics_listen: 127.0.0.1:8400\n')).toEqual([
      {
        path: 'metrics_listen',
        problem: 'must differ from listen (127.0.0.1:8400); leave it out to serve /metrics on the main port',
      },
    ]);
  });

  it('`creddy config check` reports it', async () => {
    const { dir, cleanup } = tempDir('creddy-metrics-');
    try {
      writeFileSync(`${dir}/creddy.yaml`, demoYaml({ dataDir: `${dir}/data`, extra: 'metrics_listen: nowhere' }));
      const r = await runCli(['config', 'check', '--config', `${dir}/creddy.yaml`], testEnv());
      expect(r.code).toBe(1);
      expect(r.stderr + r.stdout).toContain('metrics_listen: must be HOST:PORT (e.g. 127.0.0.1:9464) or off');
    } finally {
      cleanup();
    }
  });
});
