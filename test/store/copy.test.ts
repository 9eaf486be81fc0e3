/**
 * `creddy store copy --to postgres://…`: a SQLite deployment moves into an empty PostgreSQL
 * database with its keys, agents, credentials and audit log; tokens issued before verify against
 * a server on the copy, the audit log verifies there with the same head, and a second copy into
 * the now non-empty database is refused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneAudit } from '../../src/audit/retention.js';
import { runCli as runCliInProcess } from '../../src/cli/index.js';
import { createAgentSigner } from '../../src/client/agent-key.js';
import { createClientAssertion } from '../../src/client/proofs.js';
import { parseConfig } from '../../src/config/load.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createServices } from '../../src/services.js';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { checkpointsEvery, makeTraffic } from '../audit/helpers.js';
import { runCli } from '../helpers/cli.js';
import { captureLogger, demoYaml, issue, startBroker, type TestAgentKey, type TestBroker } from '../helpers/harness.js';
import { type FreshDatabase, freshDatabase } from '../helpers/pg.js';

interface VerifyReport {
  ok: boolean;
  hmac: string;
  first_seq: number;
  last_seq: number;
  checkpoints: number;
  latest_checkpoint: unknown;
}

const verify = async (config: string, env: NodeJS.ProcessEnv) => {
  const r = await runCli(['audit', 'verify', '--json', '--config', config], env);
  return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
};

/** A config like the broker's, on the PostgreSQL copy. */
function targetConfig(broker: TestBroker, db: FreshDatabase): string {
  const path = join(broker.dir, `pg-${db.name}.yaml`);
  writeFileSync(path, demoYaml({ dataDir: join(broker.dir, 'pg-data'), extra: `store: ${db.url}` }));
  return path;
}

describe('store copy: SQLite → PostgreSQL', () => {
  let broker: TestBroker;
  let db: FreshDatabase;
  let server: RunningServer | undefined;
  const tokens: { before: string; after: string; agent: string } = { before: '', after: '', agent: '' };
  let keyPair: TestAgentKey;

  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(5) });
    db = await freshDatabase();
    await makeTraffic(broker, 12);
    tokens.agent = await broker.agent('mover', 'demo:read');
    keyPair = await broker.keyPairAgent('mover-kp', 'demo:read', { requireDpop: true });
    const first = await issue(broker.url, tokens.agent, { backend: 'demo', scopes: ['read'] });
    tokens.before = first.body.token;
    const rotate = await runCli(['keys', 'rotate', '--force', '--config', broker.configPath], broker.env);
    expect(rotate.code, rotate.stderr).toBe(0);
    await broker.services.keyring.refresh();
    tokens.after = (await issue(broker.url, tokens.agent, { backend: 'demo', scopes: ['read'] })).body.token;
    const secret = await runCli(['secret', 'put', 'prod/moved', '--generate', '24', '--config', broker.configPath], broker.env);
    expect(secret.code, secret.stderr).toBe(0);
    await broker.services.auditCheckpoints.checkpointNow();
  });
  afterAll(async () => {
    await server?.stop();
    await broker?.stop();
    await db?.drop();
  });

  it('copies everything; the audit log verifies on the target with the same head and checkpoints', async () => {
    const source = await verify(broker.configPath, broker.env);
    expect(source.code, source.stderr).toBe(0);
    const r = await runCli(['store', 'copy', '--to', db.url, '--json', '--config', broker.configPath], broker.env);
    expect(r.code, r.stderr).toBe(0);
    const { copied, head } = JSON.parse(r.stdout) as { copied: Record<string, number>; head: string };
    // The head it copied, as `audit verify` prints it: what deploy.md step 3 compares.
    const sourceHead = (await broker.services.store.audit.head())!;
    expect(head).toBe(`${sourceHead.seq}:${sourceHead.hash}`);
    expect(r.stderr).toBe(''); // off a terminal: no progress line
    expect(copied).toMatchObject({ signing_keys: 3, audit_signing_keys: 1, audit_events: source.report.last_seq, secret_versions: 1 });
    expect(copied['agents']).toBeGreaterThanOrEqual(3);
    expect(copied['agent_keys']).toBe(1);
    expect(copied['credentials']).toBeGreaterThanOrEqual(11);
    const target = await verify(targetConfig(broker, db), broker.env);
    expect(target.code, target.stderr).toBe(0);
    expect(target.report).toEqual(source.report);
    expect((await runCli(['audit', 'verify', '--config', targetConfig(broker, db)], broker.env)).stdout).toContain(`head ${head}`);
    const copy = createPostgresStore({ url: db.url, display: db.name, poolSize: 1 });
    try {
      expect(await copy.audit.head()).toEqual(await broker.services.store.audit.head());
      expect(await copy.secrets.versions('prod/moved')).toEqual(await broker.services.store.secrets.versions('prod/moved'));
      expect(await copy.audit.checkpoints()).toEqual(await broker.services.store.audit.checkpoints());
      expect(await copy.agentKeys.list()).toEqual(await broker.services.store.agentKeys.list());
      expect(await copy.agents.byName('mover-kp')).toEqual(await broker.services.store.agents.byName('mover-kp'));
    } finally {
      await copy.close();
    }
  });

  it('a server on the copy verifies tokens issued before (old and new key) and knows the agents', async () => {
    const path = targetConfig(broker, db);
    const config = parseConfig(readFileSync(path, 'utf8'), path, broker.env);
    const services = await createServices(config, { env: broker.env, logger: captureLogger().logger, actor: 'server' });
    server = await startServer(services, { host: '127.0.0.1', port: 0 }, { drainIdleMs: 0 });
    for (const token of [tokens.before, tokens.after]) {
      const r = await runCli(['verify', token], { ...broker.env, CREDDY_URL: server.url });
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await issue(server.url, tokens.agent, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
    // The key-pair agent authenticates there, and still gets only DPoP-bound credentials.
    const signer = await createAgentSigner(keyPair.privateJwk);
    const assertion = await createClientAssertion(signer, { agent: 'mover-kp', audience: 'http://127.0.0.1:8400' });
    expect((await issue(server.url, assertion, { backend: 'demo' })).body.error.code).toBe('ERR_DPOP_INVALID');
    const after = await verify(path, broker.env);
    expect(after.code, after.stderr).toBe(0);
  });

  it('refuses a target that is not empty, and a target that is not PostgreSQL', async () => {
    const again = await runCli(['store', 'copy', '--to', db.url, '--config', broker.configPath], broker.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ERR_CONFLICT: .* is not empty \(.*\): store copy only fills an empty database/);
    // A target that cannot be reached names it with every password masked, in the user info or the query.
    const down = await runCli(
      ['store', 'copy', '--to', 'postgresql://u:pw1@127.0.0.1:1/db?password=secret2&sslpassword=secret3', '--config', broker.configPath],
      broker.env,
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      'ERR_NOT_READY: cannot use PostgreSQL at postgresql://u:***@127.0.0.1:1/db?password=***&sslpassword=***:',
    );
    expect(down.stderr).not.toMatch(/pw1|secret2|secret3/);
    const wrong = await runCli(['store', 'copy', '--to', 'mysql://db/creddy', '--config', broker.configPath], broker.env);
    expect(wrong.code).toBe(2);
  });
});

describe('store copy of a log that retention has pruned', () => {
  let broker: TestBroker;
  let db: FreshDatabase;
  beforeAll(async () => {
    broker = await startBroker({ extra: checkpointsEvery(5) });
    db = await freshDatabase();
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it('still verifies on the target: it starts at the signed anchor and records the prune', async () => {
    await makeTraffic(broker, 12);
    await broker.services.auditCheckpoints.checkpointNow();
    const { services } = broker;
    const later = Date.now() + 86_400_000;
    const pruned = await pruneAudit(
      { store: services.store, keks: services.keks, seal: services.auditSeal, now: () => later, actor: 'cli' },
      60,
    );
    expect(pruned.anchorSeq).toBeGreaterThan(1);
    const source = await verify(broker.configPath, broker.env);
    expect(source.code, source.stderr).toBe(0);
    expect(source.report.first_seq).toBe(pruned.anchorSeq);
    // On a terminal, a progress line on stderr, erased at the end; the summary names the head.
    let now = 0;
    let stdout = '';
    let stderr = '';
    const code = await runCliInProcess(
      ['store', 'copy', '--to', db.url, '--config', broker.configPath],
      { stdout: { write: (t) => (stdout += String(t)) }, stderr: { write: (t) => (stderr += String(t)), isTTY: true }, env: broker.env },
      // Each look at the clock is a quarter of a second later: a long copy, quickly.
      { clock: { now: () => (now += 250) } },
    );
    expect(code, stderr).toBe(0);
    expect(stderr.replaceAll('\r\u001B[K', '|')).toMatch(/^\|copying \d+ of \d+ rows \(\d+%\)(\|copying .*)*\|$/);
    const head = (await broker.services.store.audit.head())!;
    expect(stdout).toMatch(
      new RegExp(`^copied into .*\\nhead ${head.seq}:${head.hash} \\(audit verify on the target must print the same head\\)\\n$`),
    );
    const target = await verify(targetConfig(broker, db), broker.env);
    expect(target.code, target.stderr).toBe(0);
    expect(target.report).toEqual(source.report);
  });
});
