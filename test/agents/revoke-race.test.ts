/**
 * Revocations of one agent racing each other — `creddy agent revoke` run twice at once, or by
 * servers sharing one SQLite file, or by two PostgreSQL replicas: one wins and is recorded once
 * (`agent.revoked`), the others are told there is no active agent, as a revocation a moment later
 * would be, and each of the agent's credentials is revoked and recorded once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeAgent } from '../../src/agents/revoke.js';
import { loadConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { createServices, type Services } from '../../src/services.js';
import { captureLogger, issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { adminQuery } from '../helpers/pg.js';
import { type ReplicaSet, startReplicas } from '../replicas/harness.js';

const openMore = (configPath: string, env: NodeJS.ProcessEnv): Promise<Services> =>
  createServices(loadConfig(configPath, env), { env, logger: captureLogger().logger, actor: 'server' });

/** Runs every revocation at once; exactly one succeeds, the rest fail as "no active agent". */
async function expectOneWinner(revocations: Array<Promise<{ credentialsRevoked: number }>>, held: number): Promise<void> {
  const outcomes = await Promise.allSettled(revocations);
  const won = outcomes.filter((o) => o.status === 'fulfilled');
  expect(won, JSON.stringify(outcomes)).toHaveLength(1);
  // The winner alone scans, and finds every credential the agent holds.
  expect(won[0]!.value).toEqual({ credentialsRevoked: held });
  for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
    expect(isCreddyError(lost.reason, 'ERR_NOT_FOUND'), String(lost.reason)).toBe(true);
  }
}

describe('concurrent agent revocations on one SQLite file (a server and CLIs)', () => {
  let broker: TestBroker;
  const others: Services[] = [];
  beforeAll(async () => {
    broker = await startBroker();
    others.push(await openMore(broker.configPath, broker.env), await openMore(broker.configPath, broker.env));
  });
  afterAll(async () => {
    for (const s of others) await s.close();
    await broker?.stop();
  });

  it.each([1, 2, 3])('one revocation wins and is audited once; its credentials are revoked once (round %i)', async (round) => {
    const name = `bot-${round}`;
    const token = await broker.agent(name, 'demo:read');
    const jtis: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      jtis.push(res.body.id);
    }
    const all = [broker.services, ...others];
    await expectOneWinner(
      all.map((s) => revokeAgent(s, name, 'cli')),
      3,
    );
    const store = broker.services.store;
    expect(await store.audit.query({ agent: name, type: 'agent.revoked', limit: 10 })).toHaveLength(1);
    for (const jti of jtis) expect(await store.audit.query({ jti, type: 'credential.revoked', limit: 10 })).toHaveLength(1);
    expect((await issue(broker.url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(401);
  });
});

describe('concurrent agent revocations across two replicas (PostgreSQL)', () => {
  let set: ReplicaSet;
  const replicas: Services[] = [];
  beforeAll(async () => {
    set = await startReplicas(1);
    replicas.push(await openMore(set.configPath, set.env), await openMore(set.configPath, set.env));
  });
  afterAll(async () => {
    for (const s of replicas) await s.close();
    await set?.stop();
  });

  it.each([1, 2, 3])('one revocation wins and is audited once; its credentials are revoked once (round %i)', async (round) => {
    const name = `etl-${round}`;
    const token = await set.agent(name, 'demo:read');
    const url = set.replicas[0]!.url;
    for (let i = 0; i < 2; i++) expect((await issue(url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(201);
    await expectOneWinner(
      [...replicas, ...replicas].map((s) => revokeAgent(s, name, 'cli')),
      2,
    );
    const rows = await adminQuery<{ type: string; n: number }>(
      "SELECT type, count(*)::int AS n FROM audit_events WHERE agent = $1 AND type IN ('agent.revoked', 'credential.revoked') GROUP BY type ORDER BY type",
      [name],
      set.db.name,
    );
    expect(rows).toEqual([
      { type: 'agent.revoked', n: 1 },
      { type: 'credential.revoked', n: 2 },
    ]);
    expect((await issue(url, token, { backend: 'demo', scopes: ['read'] })).status).toBe(401);
    // The CLI says the same as a losing replica: there is no active agent of that name.
    const again = await set.cli('agent', 'revoke', name);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('no active agent');
  });
});
