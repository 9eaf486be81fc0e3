/**
 * The downstream reaper on three replicas: every due GitHub token is revoked exactly once, and
 * rows claimed by a replica that died are taken over when its lease runs out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ID, INSTALLATION, INSTALLATION_PERMISSIONS } from '../backends/github/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { tempDir } from '../helpers/harness.js';
import { adminQuery } from '../helpers/pg.js';
import { eventually, issueOn, type ReplicaSet, startReplicas } from './harness.js';

const REAPER_MS = 200;

describe('the reaper across replicas', () => {
  let gh: FakeGitHub;
  let set: ReplicaSet;
  const keyDir = tempDir();
  beforeAll(async () => {
    const app = appKeyPair();
    gh = await startFakeGitHub({
      appId: APP_ID,
      appPublicKeyPem: app.publicKey,
      installations: [{ id: INSTALLATION, account: 'acme', repositories: ['acme/widgets'], permissions: INSTALLATION_PERMISSIONS }],
    });
    const pem = join(keyDir.dir, 'app.pem');
    writeFileSync(pem, app.privateKey, { mode: 0o600 });
    // Passes every 200 ms instead of 5 s: the same passes, sooner.
    set = await startReplicas(3, {
      reaperIntervalMs: REAPER_MS,
      backendsYaml: [
        '  gh:',
        '    type: github',
        `    app_id: ${APP_ID}`,
        `    private_key: \${file:${pem}}`,
        `    installation_id: ${INSTALLATION}`,
        `    base_url: ${gh.url}`,
        '    max_ttl: 1h',
        '    allowed_scopes: ["contents:read"]',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await set?.stop();
    await gh?.close();
    keyDir.cleanup();
  });

  it('revokes each due token once, whichever replica claims it, and takes over a dead replica claims', async () => {
    const token = await set.agent('reaped', 'gh:contents:read');
    const issued = await Promise.all(
      Array.from({ length: 24 }, (_, i) => issueOn(set.replicas[i % 3]!.url, token, { backend: 'gh', scopes: ['contents:read'], ttl: 60 })),
    );
    for (const r of issued) expect(r.status).toBe(201);
    const jtis = issued.map((r) => r.body.id as string);
    const ghTokens = issued.map((r) => r.body.credential.token as string);
    // The creddy credentials expire (as if 60 s had passed); a third of them were claimed by a
    // replica that then died: their lease runs another 30 s.
    await adminQuery(
      `UPDATE credentials SET expires_at = extract(epoch FROM now())::bigint - 1,
         reap_lease_until = CASE WHEN ascii(jti) % 3 = 0 THEN extract(epoch FROM now())::bigint + 30 END
        WHERE jti = ANY($1)`,
      [jtis],
      set.db.name,
    );
    const leased = new Set(
      (
        await adminQuery<{ jti: string }>(
          'SELECT jti FROM credentials WHERE jti = ANY($1) AND reap_lease_until IS NOT NULL',
          [jtis],
          set.db.name,
        )
      ).map((r) => r.jti),
    );
    expect(leased.size).toBeGreaterThan(0);
    const isLeased = (_: string, i: number) => leased.has(jtis[i]!);
    await eventually(async () => ghTokens.every((t, i) => isLeased(t, i) || gh.tokens.get(t)?.revoked), 30_000);
    // The dead replica's claims wait for their lease; then (the replicas' clock moved past it)
    // another replica takes them over.
    expect(ghTokens.filter((t, i) => isLeased(t, i) && gh.tokens.get(t)?.revoked)).toEqual([]);
    set.clock.advance(31);
    await eventually(async () => ghTokens.every((t) => gh.tokens.get(t)?.revoked), 30_000);
    // A pass or two more, so a second revocation would have had its chance.
    await new Promise((r) => setTimeout(r, 3 * REAPER_MS));
    for (const t of ghTokens) expect(gh.revocations.filter((x) => x === t)).toHaveLength(1);
    const rows = await adminQuery<{ jti: string; actor: string }>(
      "SELECT jti, actor FROM audit_events WHERE type = 'downstream.revoked' AND jti = ANY($1)",
      [jtis],
      set.db.name,
    );
    expect(rows.map((r) => r.jti).sort()).toEqual([...jtis].sort());
    expect(rows.every((r) => r.actor === 'reaper')).toBe(true);
    const left = await adminQuery('SELECT jti FROM credentials WHERE jti = ANY($1) AND revocation_handle IS NOT NULL', [jtis], set.db.name);
    expect(left).toEqual([]);
  });
});
