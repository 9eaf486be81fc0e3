import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { createServices } from '../../src/services.js';
import { runCli } from '../helpers/cli.js';
import { captureLogger, demoYaml, startBroker, type TestBroker, tempDir } from '../helpers/harness.js';
import { attack, copyDatabase, makeTraffic } from './helpers.js';

/** A loopback witness endpoint: keeps what is POSTed, answers GET with the latest. */
async function startWitnessEndpoint(): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(body.trim());
        res.writeHead(204).end();
      });
      return;
    }
    const latest = received.at(-1);
    if (!latest) return void res.writeHead(204).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(latest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Anchored checkpoints (issue 14): an attacker with the database file who deletes the last rows
 * and the checkpoints after them, or restores an older copy, is caught by the witness.
 */
describe('audit witness', () => {
  let broker: TestBroker;
  let endpoint: Awaited<ReturnType<typeof startWitnessEndpoint>>;
  let witnessFile: string;
  const witnessDir = tempDir('creddy-witness-');
  const verify = (config: string, ...extra: string[]) => runCli(['audit', 'verify', '--json', '--config', config, ...extra], broker.env);
  const report = (stdout: string) =>
    JSON.parse(stdout) as {
      ok: boolean;
      problem: { seq: number; kind: string; detail: string } | null;
      last_seq: number;
      last_hash: string;
    };

  beforeAll(async () => {
    endpoint = await startWitnessEndpoint();
    witnessFile = join(witnessDir.dir, 'witness.ndjson'); // outside the broker's data dir, as it should be
    broker = await startBroker({
      extra: `audit:\n  checkpoint_every: 1000\n  checkpoint_interval: 1h\n  witness:\n    file: ${witnessFile}\n    url: ${endpoint.url}`,
    });
    await makeTraffic(broker, 10);
    await broker.services.auditCheckpoints.checkpointNow();
  });
  afterAll(async () => {
    await broker?.stop();
    await endpoint?.close();
    witnessDir.cleanup();
  });

  it('every checkpoint reaches the file and the endpoint, and the live log extends both', async () => {
    const checkpoints = await broker.services.store.audit.checkpoints();
    const lines = readFileSync(witnessFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(checkpoints.length);
    expect(endpoint.received).toHaveLength(checkpoints.length);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ seq: checkpoints.at(-1)!.seq, hash: checkpoints.at(-1)!.hash });
    const { config } = copyDatabase(broker, 'live');
    for (const witness of [witnessFile, endpoint.url]) {
      const r = await verify(config, '--witness', witness);
      expect(r.code, r.stderr).toBe(0);
      expect(report(r.stdout)).toMatchObject({ ok: true, problem: null });
    }
  });

  it('a cut tail with its checkpoints passes a plain verify, but not --witness or --expect', async () => {
    const head = (await broker.services.store.audit.head())!;
    const { config, db } = copyDatabase(broker, 'cut');
    // Cut the last 3 rows (credential rows of the last requests) and every checkpoint after the cut.
    attack(db, (conn) => {
      conn.prepare('DELETE FROM audit_events WHERE seq > ?').run(head.seq - 3);
      conn.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(head.seq - 3);
    });
    const plain = await verify(config);
    expect(plain.code, plain.stderr).toBe(0); // what a cut looks like without an anchor
    const witnessed = await verify(config, '--witness', witnessFile);
    expect(witnessed.code).toBe(1);
    expect(report(witnessed.stdout).problem).toMatchObject({ seq: head.seq, kind: 'truncated' });
    const expected = await verify(config, '--expect', `${head.seq}:${head.hash}`);
    expect(expected.code).toBe(1);
    expect(report(expected.stdout).problem).toMatchObject({ kind: 'truncated' });
  });

  it('an emptied log in a database that still holds keys and agents fails verify', async () => {
    const { config, db } = copyDatabase(broker, 'emptied');
    attack(db, (conn) => {
      conn.exec('DELETE FROM audit_events');
      conn.exec('DELETE FROM audit_checkpoints');
    });
    const r = await verify(config);
    expect(r.code).toBe(1);
    expect(report(r.stdout).problem).toMatchObject({ kind: 'missing' });
    expect(report(r.stdout).problem?.detail).toMatch(/log is empty but the database holds/);
  });

  it('a log cut back past a key or agent it created fails verify even without a witness', async () => {
    const { config, db } = copyDatabase(broker, 'cut-agent');
    attack(db, (conn) => {
      const created = conn.prepare<[], { seq: number }>("SELECT max(seq) AS seq FROM audit_events WHERE type = 'agent.created'").get()!;
      conn.prepare('DELETE FROM audit_events WHERE seq >= ?').run(created.seq);
      conn.prepare('DELETE FROM audit_checkpoints WHERE seq >= ?').run(created.seq);
    });
    const r = await verify(config);
    expect(r.code).toBe(1);
    expect(report(r.stdout).problem?.detail).toMatch(/agent ".*" exists but the log has no agent.created row/);
  });

  it('a database restored from an older copy is refused by verify --witness and by a starting server', async () => {
    const old = copyDatabase(broker, 'rollback');
    await makeTraffic(broker, 5);
    await broker.services.auditCheckpoints.checkpointNow(); // witnessed past the old copy's head
    const r = await verify(old.config, '--witness', witnessFile);
    expect(r.code).toBe(1);
    expect(report(r.stdout).problem).toMatchObject({ kind: 'truncated' });

    const yaml = `${demoYaml({ dataDir: join(old.dir, 'data') })}\naudit:\n  witness:\n    file: ${witnessFile}\n`;
    writeFileSync(old.config, yaml);
    const { logger } = captureLogger();
    const config = parseConfig(yaml, old.config, broker.env);
    await expect(createServices(config, { env: broker.env, logger, actor: 'server' })).rejects.toSatisfy(
      (err) => isCreddyError(err, 'ERR_AUDIT_INVALID') && /refusing to start/.test((err as Error).message),
    );
  });

  it('--expect takes only SEQ:HASH', async () => {
    const r = await runCli(['audit', 'verify', '--expect', '12:abc', '--config', broker.configPath], broker.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_USAGE: --expect must be SEQ:HASH/);
  });

  it('a witness URL must be https, or http on loopback', () => {
    expect(() =>
      parseConfig(`${demoYaml({ dataDir: '/tmp/x' })}\naudit:\n  witness:\n    url: http://witness.example.com/\n`, '/tmp/c.yaml', {}),
    ).toThrow(/audit.witness.url: must be an https URL/);
  });
});
