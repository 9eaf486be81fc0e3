/**
 * An issuance in flight while its agent's record changes: the request authenticated and passed
 * its policy checks, and its downstream mint is held until after the change committed (and
 * `revoke-grant` scanned the agent's credentials, finding none). When it commits, the append
 * compares the record with the one the request was judged by: a grant it relied on removed →
 * 403 ERR_SCOPE_DENIED; its token rotated → 401 ERR_UNAUTHENTICATED; either way the credential is
 * revoked (actor `server`, downstream too) and not handed out. A change that leaves the request
 * covered (a grant added, an unrelated one removed, a key-pair agent renewed) hands it out. On
 * SQLite and across PostgreSQL replicas (issuing on one, changed through another process).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { type GitHubFixture, startGitHubFixture } from '../backends/github/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { runCli } from '../helpers/cli.js';
import { eventually, issue, tempDir } from '../helpers/harness.js';
import { adminQuery } from '../helpers/pg.js';
import { type ReplicaSet, startReplicas } from '../replicas/harness.js';
import { holdNextMint } from './hold-mint.js';

const GH_BODY = { backend: 'gh', scopes: ['contents:read'] };

describe('agent changes while one of its issuances is in flight (SQLite)', () => {
  let fixture: GitHubFixture;
  beforeAll(async () => {
    // The held mint must not time out at the backend meanwhile.
    fixture = await startGitHubFixture({ requestTimeout: '10s' });
  });
  afterAll(async () => fixture?.stop());

  const op = async (...args: string[]) => {
    const r = await runCli([...args, '--json', '--config', fixture.broker.configPath], fixture.broker.env);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const rows = (agent: string, type: string) => fixture.broker.services.store.audit.query({ agent, type, limit: 5 });
  /** Resolves once every installation token minted since `before` (a key list) is revoked at GitHub. */
  const mintedRevoked = (before: readonly string[]) =>
    eventually(() => [...fixture.gh.tokens].every(([token, t]) => before.includes(token) || t.revoked));

  it('revoke-grant of the grant it relied on: revoked, downstream too, and refused 403 ERR_SCOPE_DENIED', async () => {
    const { broker, gh } = fixture;
    const token = await broker.agent('grant-bot', 'gh:contents:read,gh:issues:read');
    const before = [...gh.tokens.keys()];
    const held = holdNextMint(gh);
    const racing = issue(broker.url, token, GH_BODY);
    await held.started;
    // The scan finds nothing: the credential is not committed yet.
    expect(await op('agent', 'revoke-grant', 'grant-bot', '--can', 'gh:contents:read')).toMatchObject({ credentials_revoked: 0 });
    held.release();

    const res = await racing;
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'ERR_SCOPE_DENIED', details: { scope: 'contents:read' } } } });
    expect(JSON.stringify(res.body)).not.toContain('ghs_');
    const [issued] = await rows('grant-bot', 'credential.issued');
    expect(await rows('grant-bot', 'credential.revoked')).toMatchObject([{ jti: issued!.jti, reason: 'grant.revoked', actor: 'server' }]);
    expect((await broker.services.store.credentials.get(issued!.jti!))?.revokedAt).not.toBeNull();
    await mintedRevoked(before);
  });

  it('a change that leaves the request covered hands the credential out', async () => {
    const { broker, gh } = fixture;
    const token = await broker.agent('covered-bot', 'gh:contents:*,gh:contents:read,gh:issues:read');
    const held = holdNextMint(gh);
    const racing = issue(broker.url, token, GH_BODY);
    await held.started;
    // contents:* still covers contents:read; a grant added takes nothing away.
    await op('agent', 'revoke-grant', 'covered-bot', '--can', 'gh:contents:read');
    await op('agent', 'grant', 'covered-bot', '--can', 'gh:metadata:read');
    held.release();

    const res = await racing;
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await rows('covered-bot', 'credential.revoked')).toEqual([]);
  });

  it('a key-pair agent renewed meanwhile: handed out', async () => {
    const { broker, gh } = fixture;
    const key = await broker.keyPairAgent('renewed-bot', 'gh:contents:read');
    const client = createCreddyClient({
      url: broker.url,
      issuer: broker.services.config.issuer,
      auth: { type: 'key-pair', agent: 'renewed-bot', privateKey: key.privateJwk },
    });
    const held = holdNextMint(gh);
    const racing = client.issue(GH_BODY);
    await held.started;
    await op('agent', 'renew', 'renewed-bot', '--expires', '30d');
    held.release();
    expect(await racing).toMatchObject({ backend: 'gh', scopes: ['contents:read'] });
  });

  it('rotate-token: nothing is handed out on the old token once the rotation committed (401 ERR_UNAUTHENTICATED)', async () => {
    const { broker, gh } = fixture;
    const token = await broker.agent('rotated-bot', 'gh:contents:read');
    const before = [...gh.tokens.keys()];
    const held = holdNextMint(gh);
    const racing = issue(broker.url, token, GH_BODY);
    await held.started;
    const rotated = await op('agent', 'rotate-token', 'rotated-bot');
    held.release();

    const res = await racing;
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'ERR_UNAUTHENTICATED' } } });
    expect(JSON.stringify(res.body)).not.toContain('ghs_');
    const [issued] = await rows('rotated-bot', 'credential.issued');
    expect(await rows('rotated-bot', 'credential.revoked')).toMatchObject([
      { jti: issued!.jti, reason: 'agent.token_rotated', actor: 'server' },
    ]);
    await mintedRevoked(before);
    // The new token is the agent's.
    expect((await issue(broker.url, rotated['token'] as string, GH_BODY)).status).toBe(201);
  });
});

describe('agent changes while one of its issuances is in flight on another replica (PostgreSQL)', () => {
  let gh: FakeGitHub;
  let set: ReplicaSet;
  const keys = tempDir('creddy-inflight-keys-');
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
        '    allowed_scopes: ["contents:*", "metadata:read"]',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await set?.stop();
    await gh?.close();
    keys.cleanup();
  });

  const outcomes = (agent: string) =>
    adminQuery<{ type: string; actor: string; reason: string | null }>(
      "SELECT type, actor, reason FROM audit_events WHERE agent = $1 AND type IN ('credential.issued', 'credential.revoked') ORDER BY seq",
      [agent],
      set.db.name,
    );

  it('revoke-grant: the credential committed after it is revoked, not handed out', async () => {
    const token = await set.agent('etl-grant', 'gh:contents:read,gh:metadata:read');
    const held = holdNextMint(gh);
    const racing = issue(set.replicas[0]!.url, token, GH_BODY);
    await held.started;
    const changed = await set.cli('agent', 'revoke-grant', 'etl-grant', '--can', 'gh:contents:read', '--json');
    expect(changed.code, changed.stderr).toBe(0);
    expect(JSON.parse(changed.stdout)).toMatchObject({ credentials_revoked: 0 });
    held.release();

    expect(await racing).toMatchObject({ status: 403, body: { error: { code: 'ERR_SCOPE_DENIED' } } });
    expect(await outcomes('etl-grant')).toEqual([
      { type: 'credential.issued', actor: 'etl-grant', reason: null },
      { type: 'credential.revoked', actor: 'server', reason: 'grant.revoked' },
    ]);
    await eventually(() => [...gh.tokens.values()].every((t) => t.revoked));
  });

  it('rotate-token: nothing is handed out on the old token after the rotation committed', async () => {
    const token = await set.agent('etl-rotate', 'gh:contents:read');
    const held = holdNextMint(gh);
    const racing = issue(set.replicas[0]!.url, token, GH_BODY);
    await held.started;
    const rotated = await set.cli('agent', 'rotate-token', 'etl-rotate', '--json');
    expect(rotated.code, rotated.stderr).toBe(0);
    held.release();

    expect(await racing).toMatchObject({ status: 401, body: { error: { code: 'ERR_UNAUTHENTICATED' } } });
    expect(await outcomes('etl-rotate')).toEqual([
      { type: 'credential.issued', actor: 'etl-rotate', reason: null },
      { type: 'credential.revoked', actor: 'server', reason: 'agent.token_rotated' },
    ]);
    await eventually(() => [...gh.tokens.values()].every((t) => t.revoked));
    // The new token works on the other replica.
    const fresh = JSON.parse(rotated.stdout).token as string;
    expect((await issue(set.replicas[1]!.url, fresh, GH_BODY)).status).toBe(201);
  });

  it('key remove: an issuance through that key, committed after the removal, is revoked, not handed out', async () => {
    const keyFile = join(keys.dir, 'etl-key-1.json');
    const created = await set.cli('agent', 'create', 'etl-key', '--can', 'gh:contents:read', '--generate-key', keyFile);
    expect(created.code, created.stderr).toBe(0);
    const added = await set.cli('agent', 'key', 'add', 'etl-key', '--generate-key', join(keys.dir, 'etl-key-2.json'));
    expect(added.code, added.stderr).toBe(0);
    const privateKey = JSON.parse(readFileSync(keyFile, 'utf8'));
    const k1 = (await createAgentSigner(privateKey)).jkt;
    const client = createCreddyClient({
      url: set.replicas[0]!.url,
      issuer: 'http://127.0.0.1:8400',
      auth: { type: 'key-pair', agent: 'etl-key', privateKey },
    });
    const before = [...gh.tokens.keys()];
    const held = holdNextMint(gh);
    const racing = client.issue(GH_BODY).catch((err: unknown) => err);
    await held.started;
    // Through the CLI, not the replica serving the request: its scan finds nothing yet.
    const removed = await set.cli('agent', 'key', 'remove', 'etl-key', k1, '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ credentials_revoked: 0 });
    held.release();

    expect(await racing).toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    expect(await outcomes('etl-key')).toEqual([
      { type: 'credential.issued', actor: 'etl-key', reason: null },
      { type: 'credential.revoked', actor: 'server', reason: 'agent.key_removed' },
    ]);
    // …downstream too (the tokens earlier tests minted and handed out stay).
    await eventually(() => [...gh.tokens].every(([token, t]) => before.includes(token) || t.revoked));
    expect(gh.tokens.size).toBeGreaterThan(before.length);
  });
});
