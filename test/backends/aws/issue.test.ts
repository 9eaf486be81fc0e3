/**
 * aws backend through the real broker and the real AWS SDK against the loopback fake STS: the
 * session policy allows exactly the granted actions, identity fields join back to the audit row,
 * and escalation attempts never reach STS.
 */

import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../helpers/harness.js';
import { type AwsFixture, ROLE, startAwsFixture } from './fixture.js';

let f: AwsFixture;
let token: string;
beforeAll(async () => {
  f = await startAwsFixture({
    extra: ['resources: ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"]', 'external_id: tenant-42'],
    externalId: 'tenant-42',
  });
  token = await f.broker.agent('report-bot', 'aws:s3:Get*,aws:s3:ListBucket,aws:sts:GetCallerIdentity');
});
afterAll(() => f.stop());

const post = (body: Record<string, unknown>) => issue(f.broker.url, token, { backend: 'aws', ...body });

describe('aws backend: narrowing', () => {
  it('assumes the role with a session policy of exactly the granted actions, tagged for CloudTrail', async () => {
    const before = f.sts.calls.length;
    const res = await post({ scopes: ['s3:GetObject', 's3:ListBucket'], ttl: '20m' });
    expect(res.status).toBe(201);
    const calls = f.sts.calls.slice(before);
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call).toMatchObject({
      roleArn: ROLE,
      durationSeconds: 1200,
      externalId: 'tenant-42',
      sourceIdentity: 'report-bot',
      tags: { 'creddy-jti': res.body.id, 'creddy-agent': 'report-bot' },
    });
    expect(call.policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'CreddyGrant',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:ListBucket'],
          Resource: ['arn:aws:s3:::reports/*', 'arn:aws:s3:::reports'],
        },
      ],
    });
    expect(call.roleSessionName).toBe(`report-bot-${res.body.id}`);
    expect(call.roleSessionName.length).toBeLessThanOrEqual(64);

    const c = res.body.credential;
    expect(c).toMatchObject({ type: 'aws_sts_session', revocation: 'expiry-only' });
    expect(c.access_key_id).toMatch(/^ASIA/);
    expect(f.sts.sessions.get(c.access_key_id)?.expiration.toISOString().replace('.000', '')).toBe(c.expires_at);
  });

  it('gives a 900 s session to a shorter creddy TTL and says so', async () => {
    const before = f.sts.calls.length;
    const res = await post({ scopes: ['s3:GetObject'], ttl: 120 });
    expect(res.status).toBe(201);
    expect(res.body.ttl).toEqual({ requested: 120, granted: 900, clamped_by: 'sts_minimum_session' });
    expect(f.sts.calls[before]?.durationSeconds).toBe(900);
    const lifetime = (Date.parse(res.body.credential.expires_at) - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(880);
    expect(lifetime).toBeLessThanOrEqual(900);
  });

  it('passes a wildcard grant through as the same IAM pattern', async () => {
    const before = f.sts.calls.length;
    expect((await post({ scopes: ['s3:Get*'] })).status).toBe(201);
    expect((f.sts.calls[before]?.policy as { Statement: Array<{ Action: unknown }> }).Statement[0]?.Action).toBe('s3:Get*');
  });

  it('issues credentials that work at STS as the assumed role', async () => {
    const res = await post({ scopes: ['sts:GetCallerIdentity'] });
    const c = res.body.credential;
    const client = new STSClient({
      region: 'us-east-1',
      endpoint: f.sts.url,
      maxAttempts: 1,
      credentials: { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, sessionToken: c.session_token },
    });
    try {
      const who = await client.send(new GetCallerIdentityCommand({}));
      expect(who.Arn).toBe(`arn:aws:sts::111122223333:assumed-role/agents/report-bot-${res.body.id}`);
    } finally {
      client.destroy();
    }
  });

  it.each([
    ['an action outside allowed_scopes', ['iam:PassRole'], 403, 'ERR_SCOPE_DENIED'],
    ['an allowed action the agent was not granted', ['dynamodb:Query'], 403, 'ERR_SCOPE_DENIED'],
    ['a wildcard broader than the grant', ['s3:*'], 403, 'ERR_SCOPE_DENIED'],
    ['everything', ['*'], 403, 'ERR_SCOPE_DENIED'],
    ['a malformed action', ['s3:Get:Object'], 400, 'ERR_SCOPE_INVALID'],
    ['an action without a service', ['GetObject'], 400, 'ERR_SCOPE_INVALID'],
  ])('refuses %s without calling STS', async (_name, scopes, status, code) => {
    const before = f.sts.calls.length + f.sts.rejected.length;
    const res = await post({ scopes });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(f.sts.calls.length + f.sts.rejected.length).toBe(before);
  });

  it('refuses request fields the aws backend does not take', async () => {
    const res = await post({ scopes: ['s3:GetObject'], repositories: ['acme/x'] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_BAD_REQUEST');
  });

  it('records the secret only as a fingerprint', async () => {
    const res = await post({ scopes: ['s3:GetObject'] });
    const rows = await f.broker.services.store.audit.query({ jti: res.body.id, limit: 5 });
    const text = JSON.stringify(rows) + f.broker.logLines.join('\n');
    expect(text).not.toContain(res.body.credential.secret_access_key);
    expect(text).not.toContain(res.body.credential.session_token);
    expect(JSON.stringify(rows)).toContain('aws_sts_session');
  });
});

describe('aws backend: role chaining', () => {
  it('caps sessions at one hour and says why', async () => {
    const g = await startAwsFixture({ extra: ['role_chaining: true'] });
    try {
      const t = await g.broker.agent('a', 'aws:s3:GetObject');
      const res = await issue(g.broker.url, t, { backend: 'aws', scopes: ['s3:GetObject'], ttl: '2h' });
      expect(res.status).toBe(201);
      expect(res.body.ttl).toEqual({ requested: 7200, granted: 3600, clamped_by: 'role_chaining' });
      expect(g.sts.calls[0]?.durationSeconds).toBe(3600);
    } finally {
      await g.stop();
    }
  });
});
