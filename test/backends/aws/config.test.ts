/** aws backend config and the pure pieces of the session: scope grammar, policy, session names. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { roleSessionName, sourceIdentity, tagValue } from '../../../src/backends/aws/identity.js';
import { actionScopeProblem, boundedSessionPolicy, sessionPolicy } from '../../../src/backends/aws/policy.js';
import { parseConfig } from '../../../src/config/load.js';
import { startBroker } from '../../helpers/harness.js';

const yaml = (lines: string[]) =>
  ['backends:', '  aws:', '    type: aws', '    allowed_scopes: ["s3:Get*"]', ...lines.map((l) => `    ${l}`)].join('\n');
const parse = (lines: string[]) => parseConfig(yaml(lines), join('/tmp', 'creddy.yaml'), {});
const ROLE = 'role_arn: arn:aws:iam::111122223333:role/agents';

describe('aws backend config', () => {
  it('accepts the documented keys', () => {
    const config = parse([
      ROLE,
      'region: eu-west-1',
      'endpoint: https://sts.eu-west-1.amazonaws.com',
      'external_id: tenant-42',
      'resources: ["arn:aws:s3:::b/*"]',
      'role_chaining: true',
    ]);
    expect(config.backends.get('aws')?.settings).toMatchObject({
      region: 'eu-west-1',
      resources: ['arn:aws:s3:::b/*'],
      roleChaining: true,
    });
    expect(parse([ROLE, 'endpoint: http://127.0.0.1:4566/']).backends.get('aws')?.settings).toMatchObject({
      endpoint: 'http://127.0.0.1:4566',
    });
    expect(parse([ROLE]).backends.get('aws')?.settings).toMatchObject({
      region: 'us-east-1',
      resources: ['*'],
      roleChaining: false,
      endpoint: undefined,
    });
  });

  it.each([
    ['a missing role_arn', [], /backends\.aws\.role_arn: is required/],
    ['a user ARN as role_arn', ['role_arn: arn:aws:iam::111122223333:user/bob'], /backends\.aws\.role_arn/],
    ['a bad region', [ROLE, 'region: moon'], /backends\.aws\.region/],
    ['a bad resource', [ROLE, 'resources: ["bucket"]'], /backends\.aws\.resources\[0\]/],
    ['a bad external_id', [ROLE, 'external_id: "a b"'], /backends\.aws\.external_id/],
    [
      'resources that leave no room in the 2,048-character session policy for even one scope',
      [ROLE, `resources: [${Array.from({ length: 10 }, (_, i) => `"arn:aws:s3:::${'b'.repeat(180)}${i}/*"`).join(', ')}]`],
      /backends\.aws\.resources: make a session policy of at least \d+ characters, even with one scope; AWS STS takes at most 2048/,
    ],
    ['a role_chaining that is not a boolean', [ROLE, 'role_chaining: yes-please'], /backends\.aws\.role_chaining/],
    ['an endpoint that is no URL', [ROLE, 'endpoint: sts.example.com'], /backends\.aws\.endpoint: must be an http\(s\) URL/],
    [
      'a plain http endpoint off loopback (STS credentials in cleartext)',
      [ROLE, 'endpoint: http://sts.corp.example.com'],
      /backends\.aws\.endpoint: must be an https URL \(plain http only to a loopback address\)/,
    ],
  ])('refuses %s, naming the key', (_name, lines, message) => {
    expect(() => parse(lines)).toThrow(message);
  });
  it('accepts resources that leave room for real actions though not for the longest, and refuses that one per request', () => {
    // 36 bucket ARNs: s3:GetObject fits in the 2,048 characters; a 128-character action would not.
    const arns = Array.from({ length: 36 }, (_, i) => `arn:aws:s3:::acme-analytics-events-prod-eu-w1-${String(i).padStart(2, '0')}/*`);
    const config = parse([ROLE, `resources: [${arns.map((a) => `"${a}"`).join(', ')}]`]);
    expect(config.backends.get('aws')?.settings).toMatchObject({ resources: arns });
    expect(boundedSessionPolicy(['s3:GetObject'], arns).length).toBeLessThanOrEqual(2048);
    expect(() => boundedSessionPolicy([`s3:${'G'.repeat(124)}`], arns)).toThrow(
      expect.objectContaining({
        code: 'ERR_SCOPES_TOO_LARGE',
        message: expect.stringContaining("the backend's resources list is too long"),
      }),
    );
    expect(() =>
      boundedSessionPolicy(['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket', 's3:GetObjectTagging'], arns),
    ).toThrow(expect.objectContaining({ code: 'ERR_SCOPES_TOO_LARGE', message: expect.stringContaining('ask for fewer scopes') }));
  });
});

describe('aws scopes and session policy', () => {
  it.each(['s3:GetObject', 's3:Get*', 's3:*', 'dynamodb:Query', 'execute-api:Invoke', '*'])('accepts %s', (scope) => {
    expect(actionScopeProblem(scope)).toBeUndefined();
  });
  it.each(['s3', 's3:', 'S3:GetObject', 's3:Get:Object', ':GetObject', 's3:Get*Object', 's3:9Get'])('rejects %s', (scope) => {
    expect(actionScopeProblem(scope)).toBeTypeOf('string');
  });

  it('builds a policy allowing exactly the actions on the resources', () => {
    expect(JSON.parse(sessionPolicy(['s3:GetObject', 'dynamodb:Query'], ['*']))).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'CreddyGrant', Effect: 'Allow', Action: ['s3:GetObject', 'dynamodb:Query'], Resource: '*' }],
    });
  });

  it('makes STS-valid session names that keep the jti whole', () => {
    const jti = 'AbC_-dEf0123456789xyzQ';
    expect(roleSessionName('ci-bot', jti)).toBe(`ci-bot-${jti}`);
    const long = roleSessionName('x'.repeat(64), jti);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long.endsWith(jti)).toBe(true);
    expect(roleSessionName('bot with spaces/and:colons', jti)).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(sourceIdentity('a')).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(sourceIdentity('aws:admin')).not.toMatch(/^aws:/);
    expect(tagValue('ok@x.y')).toBe('ok@x.y');
  });
});

describe('aws TTL bounds', () => {
  it('refuses max_ttl below the 900 s STS minimum instead of granting more than max_ttl', async () => {
    const broker = startBroker({
      backends: `  aws:\n    type: aws\n    ${ROLE}\n    allowed_scopes: ["s3:Get*"]\n    default_ttl: 5m\n    max_ttl: 5m\n`,
    });
    await expect(broker).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringContaining('backends.aws.max_ttl: must be at least 900s'),
    });
  });
});
