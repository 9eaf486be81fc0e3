/**
 * An issuance in flight while its agent is revoked: the request authenticated before the
 * revocation committed, and its downstream mint is held until after `agent revoke` has scanned
 * the agent's credentials (finding none). When it commits, the append sees the revocation: the
 * credential is revoked (reason `agent.revoked`, actor `server`, downstream too) and the request
 * answered 401 ERR_AGENT_REVOKED — whichever way the agent authenticated, on SQLite and across
 * PostgreSQL replicas (issuing on one, revoked through another process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreddyClient } from '../../src/client/client.js';
import { type GitHubFixture, startGitHubFixture } from '../backends/github/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { runCli } from '../helpers/cli.js';
import { eventually, issue } from '../helpers/harness.js';
import { adminQuery } from '../helpers/pg.js';
import { type ReplicaSet, startReplicas } from '../replicas/harness.js';
import { holdNextMint } from './hold-mint.js';

const GH_BODY = { backend: 'gh', scopes: ['contents:read'] };

describe('agent revoke while one of its issuances is in flight (SQLite)', () => {
  let fixture: GitHubFixture;
  beforeAll(async () => {
    // The held mint must not time out at the backend meanwhile.
    fixture = await startGitHubFixture({ requestTimeout: '10s' });
  });
  afterAll(async () => fixture?.stop());

  const revokeCli = (name: string) =>
    runCli(['agent', 'revoke', name, '--json', '--config', fixture.broker.configPath], fixture.broker.env);

  it('a bearer agent: the credential committed after the revocation is revoked, not handed out', async () => {
    const { broker, gh } = fixture;
    const token = await broker.agent('bearer-bot', 'gh:contents:read');
    const held = holdNextMint(gh);
    const racing = issue(broker.url, token, GH_BODY);
    await held.started;
    const revoked = await revokeCli('bearer-bot');
    expect(revoked.code, revoked.stderr).toBe(0);
    // The scan found nothing: the credential is not committed yet.
    expect(JSON.parse(revoked.stdout)).toMatchObject({ credentials_revoked: 0 });
    held.release();

    const res = await racing;
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'ERR_AGENT_REVOKED' } } });
    expect(JSON.stringify(res.body)).not.toContain('ghs_');
    const [issued] = await broker.services.store.audit.query({ agent: 'bearer-bot', type: 'credential.issued', limit: 1 });
    const [row] = await broker.services.store.audit.query({ agent: 'bearer-bot', type: 'credential.revoked', limit: 5 });
    expect(row).toMatchObject({ jti: issued!.jti, reason: 'agent.revoked', actor: 'server' });
    expect((await broker.services.store.credentials.get(issued!.jti!))?.revokedAt).not.toBeNull();
    // …downstream too: the installation token it minted is revoked at GitHub.
    await eventually(() => [...gh.tokens.values()].every((t) => t.revoked));
  });

  it('a key-pair agent: the same', async () => {
    const { broker, gh } = fixture;
    const key = await broker.keyPairAgent('keyed-bot', 'gh:contents:read');
    const client = createCreddyClient({
      url: broker.url,
      issuer: broker.services.config.issuer,
      auth: { type: 'key-pair', agent: 'keyed-bot', privateKey: key.privateJwk },
    });
    const held = holdNextMint(gh);
    const racing = client.issue(GH_BODY).catch((err: unknown) => err);
    await held.started;
    const revoked = await revokeCli('keyed-bot');
    expect(revoked.code, revoked.stderr).toBe(0);
    held.release();

    expect(await racing).toMatchObject({ code: 'ERR_AGENT_REVOKED' });
    const [row] = await broker.services.store.audit.query({ agent: 'keyed-bot', type: 'credential.revoked', limit: 5 });
    expect(row).toMatchObject({ reason: 'agent.revoked', actor: 'server' });
  });

  it('an issuance that commits before the revocation is handed out, and the scan revokes it', async () => {
    const { broker } = fixture;
    const token = await broker.agent('early-bot', 'gh:contents:read');
    const res = await issue(broker.url, token, GH_BODY);
    expect(res.status).toBe(201);
    const revoked = await revokeCli('early-bot');
    expect(JSON.parse(revoked.stdout)).toMatchObject({ credentials_revoked: 1 });
    const rows = await broker.services.store.audit.query({ jti: res.body.id, type: 'credential.revoked', limit: 5 });
    expect(rows).toMatchObject([{ reason: 'agent.revoked', actor: 'cli' }]);
  });
});

describe('agent revoke while one of its issuances is in flight on another replica (PostgreSQL)', () => {
  let gh: FakeGitHub;
  let set: ReplicaSet;
  beforeAll(async () => {
    const app = appKeyPair();
    gh = await startFakeGitHub({
      appId: 4242,
      appPublicKeyPem: app.publicKey,
      installations: [{ id: 7, account: 'acme', repositories: ['acme/widgets'], permissions: { contents: 'write', metadata: 'read' } }],
    });
    set = await startReplicas(2, {
      env: { GH_APP_KEY: app.privateKey },
      backendsYaml: [
        '  gh:',
        '    type: github',
        '    app_id: 4242',
        `    private_key: \${env:GH_APP_KEY}`,
        '    installation_id: 7',
        `    base_url: ${gh.url}`,
        '    request_timeout: 10s',
        '    max_ttl: 1h',
        '    allowed_scopes: ["contents:*"]',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await set?.stop();
    await gh?.close();
  });

  it('the credential committed after the revocation is revoked, not handed out', async () => {
    const token = await set.agent('etl', 'gh:contents:read');
    const [a, b] = set.replicas.map((r) => r.url) as [string, string];
    const held = holdNextMint(gh);
    const racing = issue(a, token, GH_BODY);
    await held.started;
    const revoked = await set.cli('agent', 'revoke', 'etl', '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ credentials_revoked: 0 });
    held.release();

    expect(await racing).toMatchObject({ status: 401, body: { error: { code: 'ERR_AGENT_REVOKED' } } });
    const rows = await adminQuery<{ type: string; actor: string; reason: string | null }>(
      "SELECT type, actor, reason FROM audit_events WHERE agent = 'etl' AND type IN ('credential.issued', 'credential.revoked') ORDER BY seq",
      [],
      set.db.name,
    );
    expect(rows).toEqual([
      { type: 'credential.issued', actor: 'etl', reason: null },
      { type: 'credential.revoked', actor: 'server', reason: 'agent.revoked' },
    ]);
    await eventually(() => [...gh.tokens.values()].every((t) => t.revoked));
    // And the other replica refuses the agent, as every one does.
    expect((await issue(b, token, GH_BODY)).status).toBe(401);
  });
});
