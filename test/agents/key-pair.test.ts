import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgentKey, removeAgentKey } from '../../src/agents/keys.js';
import { type AgentSigner, createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createClientAssertion } from '../../src/client/proofs.js';
import { attack, copyDatabase, dbPath } from '../audit/helpers.js';
import { runCli } from '../helpers/cli.js';
import { issue, lastOutcome, startBroker, type TestAgentKey, type TestBroker } from '../helpers/harness.js';

/**
 * Key-pair agents on the broker's API: an RFC 7523 client assertion as `Authorization: Bearer`,
 * checked claim by claim at the wire, its jti spent once, the agent's keys read per request and
 * tied to the audit log, and rotation without downtime.
 */
const ISSUER = 'http://127.0.0.1:8400';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('key-pair agents', () => {
  let broker: TestBroker;
  let key: TestAgentKey;
  let signer: AgentSigner;
  const now = () => Math.floor(broker.clock.now() / 1000);
  /** A well-formed assertion with `claims` overriding the standard ones. */
  const assertion = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, by = signer) => {
    const iat = now();
    return by.sign(
      { typ: 'JWT', kid: by.jkt, ...header },
      { iss: 'kp', sub: 'kp', aud: ISSUER, iat, exp: iat + 60, jti: randomBytes(16).toString('base64url'), ...claims },
    );
  };

  beforeAll(async () => {
    broker = await startBroker({ extra: 'auth_throttle:\n  max_failures: 100000\n  max_audited_per_window: 100000' });
    key = await broker.keyPairAgent('kp', 'demo:read');
    signer = await createAgentSigner(key.privateJwk);
  });
  afterAll(async () => broker?.stop());

  it('authenticate with a fresh assertion; the credential is theirs and the audit row names the key', async () => {
    const r = await issue(broker.url, await createClientAssertion(signer, { agent: 'kp', audience: ISSUER }), { backend: 'demo' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ backend: 'demo', scopes: ['read'], token_type: 'Bearer' });
    const { row } = await lastOutcome(broker, 'kp');
    expect(row).toMatchObject({ type: 'credential.issued', agent: 'kp', details: expect.objectContaining({ agent_key: key.jkt }) });
    // Also with the token endpoint as aud, and without a kid in the header.
    expect((await issue(broker.url, await assertion({ aud: `${ISSUER}/oauth/token` }), { backend: 'demo' })).status).toBe(201);
    expect((await issue(broker.url, await assertion({}, { kid: undefined }), { backend: 'demo' })).status).toBe(201);
  });

  it('spend each assertion once', async () => {
    const once = await createClientAssertion(signer, { agent: 'kp', audience: ISSUER });
    expect((await issue(broker.url, once, { backend: 'demo' })).status).toBe(201);
    const replay = await issue(broker.url, once, { backend: 'demo' });
    expect(replay.status).toBe(401);
    expect(replay.body.error).toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringContaining('replay') });
  });

  it.each<[string, () => Promise<string> | string]>([
    ['another audience', () => assertion({ aud: 'https://elsewhere.example' })],
    ['an exp beyond 60 s plus the clock skew', () => assertion({ exp: now() + 60 + 60 + 2 })],
    ['an expired one', () => assertion({ iat: now() - 200, exp: now() - 61 })],
    ['iss ≠ sub', () => assertion({ sub: 'someone-else' })],
    ['no jti', () => assertion({ jti: undefined })],
    ['an iat in the future', () => assertion({ iat: now() + 120 })],
    ['a kid naming no key of the agent', () => assertion({}, { kid: 'A'.repeat(43) })],
    ['another key', async () => assertion({}, {}, await createAgentSigner((await generateAgentKey()).privateJwk))],
    ['an unknown agent', () => assertion({ iss: 'ghost', sub: 'ghost' })],
    ['alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'kp', sub: 'kp', aud: ISSUER, exp: now() + 60, jti: 'x' })}.`],
    ['an access-token typ', () => assertion({}, { typ: 'at+jwt' })],
  ])('refuse %s (401, audited)', async (_, make) => {
    const r = await issue(broker.url, await make(), { backend: 'demo' });
    expect(r.status, JSON.stringify(r.body)).toBe(401);
    expect(r.body.error.code).toBe('ERR_UNAUTHENTICATED');
    const [row] = await broker.services.store.audit.query({ type: 'auth.failed', limit: 1 });
    expect(row).toMatchObject({ reason: 'ERR_UNAUTHENTICATED', requestId: r.body.error.request_id });
  });

  it('accept what a standard client sends at the edge of the window: exp = now + 60, and up to the clock skew beyond', async () => {
    expect((await issue(broker.url, await assertion({ exp: now() + 60 }), { backend: 'demo' })).status).toBe(201);
    expect((await issue(broker.url, await assertion({ exp: now() + 60 + 60 }), { backend: 'demo' })).status).toBe(201);
  });

  it('a revoked agent is refused with ERR_AGENT_REVOKED, once its signature verified', async () => {
    const doomed = await broker.keyPairAgent('kp-doomed', 'demo:read');
    const doomedSigner = await createAgentSigner(doomed.privateJwk);
    const revoke = await runCli(['agent', 'revoke', 'kp-doomed', '--config', broker.configPath], broker.env);
    expect(revoke.code, revoke.stderr).toBe(0);
    const r = await issue(broker.url, await createClientAssertion(doomedSigner, { agent: 'kp-doomed', audience: ISSUER }), {
      backend: 'demo',
    });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('ERR_AGENT_REVOKED');
    const forged = await assertion({ iss: 'kp-doomed', sub: 'kp-doomed' });
    expect((await issue(broker.url, forged, { backend: 'demo' })).body.error.code).toBe('ERR_UNAUTHENTICATED');
  });

  it('rotate without downtime: both keys work while two are registered; a removed key is refused at once', async () => {
    const rotating = await broker.keyPairAgent('kp-rotating', 'demo:read');
    const oldSigner = await createAgentSigner(rotating.privateJwk);
    const next = await generateAgentKey();
    const nextSigner = await createAgentSigner(next.privateJwk);
    const ask = (by: AgentSigner) =>
      createClientAssertion(by, { agent: 'kp-rotating', audience: ISSUER }).then((a) => issue(broker.url, a, { backend: 'demo' }));
    await addAgentKey(broker.services, { name: 'kp-rotating', key: { x: next.publicJwk.x, jkt: next.jkt }, actor: 'cli' });
    expect((await ask(oldSigner)).status).toBe(201);
    expect((await ask(nextSigner)).status).toBe(201);
    await removeAgentKey(broker.services, { name: 'kp-rotating', jkt: rotating.jkt, actor: 'cli' });
    expect((await ask(oldSigner)).status).toBe(401);
    expect((await ask(nextSigner)).status).toBe(201);
    const rows = await broker.services.store.audit.query({ agent: 'kp-rotating', order: 'asc', limit: 100 });
    expect(rows.filter((r) => r.type.startsWith('agent.key')).map((r) => [r.type, r.details?.['jkt']])).toEqual([
      ['agent.key_added', next.jkt],
      ['agent.key_removed', rotating.jkt],
    ]);
  });

  it("refuse a key row edited behind the log's back (a swapped key, an extra key); audit verify names the agent", async () => {
    const victim = await broker.keyPairAgent('kp-victim', 'demo:read');
    const victimSigner = await createAgentSigner(victim.privateJwk);
    const attacker = await generateAgentKey();
    const attackerSigner = await createAgentSigner(attacker.privateJwk);
    const as = (by: AgentSigner) =>
      createClientAssertion(by, { agent: 'kp-victim', audience: ISSUER }).then((a) => issue(broker.url, a, { backend: 'demo' }));
    expect((await as(victimSigner)).status).toBe(201);

    // The attacker's key slipped in beside the victim's: the log never recorded it.
    attack(dbPath(broker), (db) =>
      db
        .prepare('INSERT INTO agent_keys (jkt, agent, x, added_at) VALUES (?, ?, ?, ?)')
        .run(attacker.jkt, 'kp-victim', attacker.publicJwk.x, now()),
    );
    const extra = await as(attackerSigner);
    expect(extra.status).toBe(401);
    expect(extra.body.error.code).toBe('ERR_UNAUTHENTICATED');
    expect(broker.logLines.some((l) => l.includes('agent row does not match the audit log') && l.includes('kp-victim'))).toBe(true);
    const { config } = copyDatabase(broker, 'extra-key');
    const verify = await runCli(['audit', 'verify', '--json', '--config', config], broker.env);
    expect(verify.code).toBe(1);
    expect((JSON.parse(verify.stdout) as { problem: { detail: string } }).problem.detail).toMatch(
      /agent "kp-victim": its key .* not in the log/,
    );

    // The victim's own row given the attacker's x under the victim's thumbprint: the signature
    // checks out against the row, the row does not check out against its thumbprint.
    attack(dbPath(broker), (db) => {
      db.prepare('DELETE FROM agent_keys WHERE jkt = ?').run(attacker.jkt);
      db.prepare('UPDATE agent_keys SET x = ? WHERE jkt = ?').run(attacker.publicJwk.x, victim.jkt);
    });
    const swapped = await as(attackerSigner);
    expect(swapped.status).toBe(401);
    expect(broker.logLines.some((l) => l.includes('does not match its thumbprint'))).toBe(true);
    attack(dbPath(broker), (db) => db.prepare('UPDATE agent_keys SET x = ? WHERE jkt = ?').run(victim.publicJwk.x, victim.jkt));
    expect((await as(victimSigner)).status).toBe(201);
  });

  it('hold no bearer secret: the token column is a digest of nothing ever shown', async () => {
    const agent = await broker.services.store.agents.byName('kp');
    expect(agent?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    const [created] = await broker.services.store.audit.query({ type: 'agent.created', agent: 'kp', limit: 1 });
    expect(created?.details).toMatchObject({ keys: [key.jkt], token_sha256: agent?.tokenHash });
  });
});
