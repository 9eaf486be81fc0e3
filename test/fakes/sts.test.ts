/**
 * Drives the fake STS with the real AWS SDK v3 client, so the fake is proven
 * against the same signing/serialisation the production code will use.
 */

import { request } from 'node:http';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalQuery, canonicalUri, deriveSigningKey, verifySigV4 } from './sigv4.js';
import { type FakeSts, startFakeSts } from './sts.js';

const BASE = { accessKeyId: 'AKIAFAKEBASE0000TEST', secretAccessKey: 'base/secret/key+0123456789abcdefghijklmn' };
const ROLE = 'arn:aws:iam::111122223333:role/deploy/Deployer';
const GUARDED = 'arn:aws:iam::111122223333:role/ThirdParty';
const POLICY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }] };

let fake: FakeSts;
const clients: STSClient[] = [];
function client(overrides: Partial<STSClientConfig> = {}): STSClient {
  const c = new STSClient({ region: 'us-east-1', endpoint: fake.url, credentials: BASE, maxAttempts: 1, ...overrides });
  clients.push(c);
  return c;
}
const assume = (input: Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]> = {}, c = client()) =>
  c.send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'ci-run', ...input }));

beforeEach(async () => {
  fake = await startFakeSts({
    credentials: [BASE],
    roles: [
      { arn: ROLE, maxSessionDuration: 7200 },
      { arn: GUARDED, externalId: 'tenant-42' },
    ],
  });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await fake.close();
});

describe('fake STS with the real SDK', () => {
  it('AssumeRole issues working session credentials and records the parsed call', async () => {
    const out = await assume({
      DurationSeconds: 1800,
      Policy: JSON.stringify(POLICY, null, 2),
      SourceIdentity: 'alice@example.com',
      Tags: [
        { Key: 'team', Value: 'platform' },
        { Key: 'ticket', Value: 'OPS-1' },
      ],
    });
    const creds = out.Credentials!;
    expect(creds.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(creds.SecretAccessKey).toHaveLength(40);
    expect(creds.SessionToken).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const ttl = creds.Expiration!.getTime() - Date.now();
    expect(ttl).toBeGreaterThan(1790_000);
    expect(ttl).toBeLessThanOrEqual(1800_000);
    expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/Deployer/ci-run');
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z0-9]{17}:ci-run$/);
    expect(out.SourceIdentity).toBe('alice@example.com');
    expect(out.PackedPolicySize).toBeGreaterThan(0);

    expect(fake.calls).toEqual([
      {
        roleArn: ROLE,
        roleSessionName: 'ci-run',
        durationSeconds: 1800,
        policy: POLICY,
        sourceIdentity: 'alice@example.com',
        tags: { team: 'platform', ticket: 'OPS-1' },
        accessKeyId: BASE.accessKeyId,
      },
    ]);
    expect(fake.sessions.get(creds.AccessKeyId!)).toMatchObject({ roleArn: ROLE, policy: POLICY });

    const session = { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey!, sessionToken: creds.SessionToken! };
    const who = await client({ credentials: session }).send(new GetCallerIdentityCommand({}));
    expect(who).toMatchObject({ Arn: out.AssumedRoleUser?.Arn, UserId: out.AssumedRoleUser?.AssumedRoleId, Account: '111122223333' });

    // The token is bound to the key: dropping or swapping it is refused.
    await expect(
      client({ credentials: { ...session, sessionToken: 'bogus' } }).send(new GetCallerIdentityCommand({})),
    ).rejects.toMatchObject({ name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } });
    // Expiry is enforced from fake.sessions.
    fake.sessions.get(creds.AccessKeyId!)!.expiration = new Date(Date.now() - 1000);
    await expect(client({ credentials: session }).send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({ name: 'ExpiredToken' });
  });

  it('GetCallerIdentity works for base credentials', async () => {
    const who = await client().send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe('111122223333');
    expect(who.Arn).toBe(`arn:aws:iam::111122223333:user/${BASE.accessKeyId}`);
  });

  it('rejects a wrong secret with SignatureDoesNotMatch', async () => {
    await expect(assume({}, client({ credentials: { ...BASE, secretAccessKey: 'x'.repeat(40) } }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    expect(fake.calls).toHaveLength(0);
    expect(fake.rejected).toEqual([expect.objectContaining({ code: 'SignatureDoesNotMatch' })]);
  });

  it('rejects an unknown access key, wrong signing region and a stale clock', async () => {
    await expect(assume({}, client({ credentials: { ...BASE, accessKeyId: 'AKIANOBODY0000000000' } }))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(assume({}, client({ region: 'eu-west-1' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    const stale = client({ systemClockOffset: -10 * 60_000 });
    await expect(assume({}, stale)).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      message: expect.stringMatching(/^Signature expired/),
    });
  });

  it('refuses unsigned requests', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = 'Action=GetCallerIdentity&Version=2011-06-15';
      const req = request(`${fake.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (r) => {
        let data = '';
        r.on('data', (c: Buffer) => (data += c.toString())).on('end', () => resolve({ status: r.statusCode ?? 0, body: data }));
      });
      req.on('error', reject).end(body);
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatch(
      /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/,
    );
  });

  it('validates AssumeRole like STS', async () => {
    await expect(assume({ RoleArn: 'arn:aws:iam::111122223333:role/Nope' })).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(assume({ DurationSeconds: 600 })).rejects.toMatchObject({ name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
    await expect(assume({ DurationSeconds: 7201 })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('MaxSessionDuration'),
    });
    await expect(assume({ RoleSessionName: 'has space' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ RoleSessionName: 'x' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ SourceIdentity: 'a/b' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ Policy: '{"Statement": [' })).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(assume({ Policy: 'x'.repeat(2049) })).rejects.toMatchObject({ name: 'ValidationError' });
    const bigTags = Array.from({ length: 10 }, (_, i) => ({ Key: `k${i}`, Value: 'v'.repeat(250) }));
    await expect(assume({ Tags: bigTags })).rejects.toMatchObject({ name: 'PackedPolicyTooLargeException' });
    // ExternalId guards the third-party role: absent or wrong is AccessDenied, right one works.
    await expect(assume({ RoleArn: GUARDED })).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(assume({ RoleArn: GUARDED, ExternalId: 'tenant-7' })).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(assume({ RoleArn: GUARDED, ExternalId: 'tenant-42' })).resolves.toMatchObject({ Credentials: expect.anything() });
    expect(fake.calls.map((c) => c.externalId)).toEqual(['tenant-42']);
    expect(fake.rejected.map((r) => r.code)).toEqual([
      'AccessDenied',
      'ValidationError',
      'ValidationError',
      'ValidationError',
      'ValidationError',
      'ValidationError',
      'MalformedPolicyDocument',
      'ValidationError',
      'PackedPolicyTooLarge',
      'AccessDenied',
      'AccessDenied',
    ]);
  });

  it('maps each fault kind to the SDK error it would get from AWS', async () => {
    fake.faults.push({ status: 500 }, { status: 503 }, { throttle: true }, { malformed: true });
    await expect(assume()).rejects.toMatchObject({ name: 'InternalFailure', $fault: 'server', $metadata: { httpStatusCode: 500 } });
    await expect(assume()).rejects.toMatchObject({ name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
    await expect(assume()).rejects.toMatchObject({ name: 'Throttling', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    await expect(assume()).rejects.toMatchObject({
      message: expect.stringContaining('Deserialization error'),
      $metadata: { httpStatusCode: 200 },
    });
    expect(fake.calls).toHaveLength(0);
    expect(fake.rejected).toHaveLength(0); // injected faults are not auth/validation rejections

    fake.faults.push({ delayMs: 300 });
    const started = Date.now();
    await expect(assume()).resolves.toMatchObject({ Credentials: expect.anything() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('the SDK retries a throttle when maxAttempts allows', async () => {
    fake.faults.push({ throttle: true });
    const out = await assume({}, client({ maxAttempts: 3 }));
    expect(out.$metadata.attempts).toBe(2);
    expect(fake.calls).toHaveLength(1);
    expect(fake.faults).toHaveLength(0);
  });
});

describe('sigv4 verifier against the published aws-sig-v4-test-suite', () => {
  // Vectors from AWS's SigV4 test suite (service "service", 2015-08-30T12:36:00Z, AKIDEXAMPLE).
  const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const TOKEN =
    'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==';
  const NOW = new Date('2015-08-30T12:36:00Z');
  const vectors: Array<{ name: string; method: string; url: string; headers: string[]; body?: string; signed: string; sig: string }> = [
    {
      name: 'get-vanilla',
      method: 'GET',
      url: '/',
      headers: [],
      signed: 'host;x-amz-date',
      sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    },
    {
      name: 'get-vanilla-query-order-key-case',
      method: 'GET',
      url: '/?Param2=value2&Param1=value1',
      headers: [],
      signed: 'host;x-amz-date',
      sig: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    },
    {
      name: 'get-slashes',
      method: 'GET',
      url: '//example//',
      headers: [],
      signed: 'host;x-amz-date',
      sig: '9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84',
    },
    {
      name: 'get-header-value-trim',
      method: 'GET',
      url: '/',
      headers: ['My-Header1', ' value1', 'My-Header2', ' "a   b   c"'],
      signed: 'host;my-header1;my-header2;x-amz-date',
      sig: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
    },
    {
      name: 'get-header-value-order',
      method: 'GET',
      url: '/',
      headers: ['My-Header1', 'value4', 'My-Header1', 'value1', 'My-Header1', 'value3', 'My-Header1', 'value2'],
      signed: 'host;my-header1;x-amz-date',
      sig: '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01',
    },
    {
      name: 'post-x-www-form-urlencoded',
      method: 'POST',
      url: '/',
      headers: ['Content-Type', 'application/x-www-form-urlencoded'],
      body: 'Param1=value1',
      signed: 'content-type;host;x-amz-date',
      sig: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
    },
    {
      name: 'post-sts-header-before',
      method: 'POST',
      url: '/',
      headers: ['X-Amz-Security-Token', TOKEN],
      signed: 'host;x-amz-date;x-amz-security-token',
      sig: '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
    },
  ];
  const build = (v: (typeof vectors)[number], sig = v.sig) => ({
    method: v.method,
    rawUrl: v.url,
    body: Buffer.from(v.body ?? ''),
    rawHeaders: [
      'Host',
      'example.amazonaws.com',
      'X-Amz-Date',
      '20150830T123600Z',
      ...v.headers,
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${v.signed}, Signature=${sig}`,
    ],
  });
  type Vector = (typeof vectors)[number];
  const vector = (name: string): Vector => vectors.find((v) => v.name === name)!;
  // Only post-sts-header-before is sent with a session token; for the others the key is long-term.
  const opts = (v: Vector, now = NOW) => ({
    region: 'us-east-1',
    service: 'service',
    now,
    lookup: (id: string) =>
      id !== 'AKIDEXAMPLE'
        ? undefined
        : v.signed.includes('x-amz-security-token')
          ? { secretAccessKey: SECRET, sessionToken: TOKEN }
          : { secretAccessKey: SECRET },
  });

  it.each(vectors)('accepts $name', (v) => {
    expect(verifySigV4(build(v), opts(v))).toMatchObject({ ok: true, accessKeyId: 'AKIDEXAMPLE' });
  });

  it('rejects tampering, replay outside the 5 minute window, and token/hash mismatches', () => {
    const form = vector('post-x-www-form-urlencoded');
    const tampered = { ...build(form), body: Buffer.from('Param1=value2') };
    expect(verifySigV4(tampered, opts(form))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch', status: 403 });

    const trim = vector('get-header-value-trim');
    const headerChanged = build(trim);
    headerChanged.rawHeaders[7] = ' "a b  c"x'; // My-Header2's value
    expect(verifySigV4(headerChanged, opts(trim))).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });

    const vanilla = vector('get-vanilla');
    const late = new Date(NOW.getTime() + 5 * 60_000 + 1000);
    expect(verifySigV4(build(vanilla), opts(vanilla, late))).toMatchObject({
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: expect.stringMatching(/^Signature expired/),
    });

    const sts = vector('post-sts-header-before');
    expect(verifySigV4(build(vanilla), opts(sts))).toMatchObject({ ok: false, code: 'InvalidClientTokenId' }); // token required
    const withHash = build(sts);
    withHash.rawHeaders.push('X-Amz-Content-Sha256', '0'.repeat(64));
    expect(verifySigV4(withHash, opts(sts))).toMatchObject({ ok: false, code: 'XAmzContentSHA256Mismatch' });
  });

  it('canonicalises paths and queries per the spec', () => {
    expect(canonicalUri('')).toBe('/');
    expect(canonicalUri('/')).toBe('/');
    expect(canonicalUri('/a/./b/../c/')).toBe('/a/c/');
    expect(canonicalUri('/a%20b')).toBe('/a%2520b'); // non-S3 paths are encoded twice
    expect(canonicalQuery('')).toBe('');
    expect(canonicalQuery('b=2&a=z&a=y&c&d=%2a')).toBe('a=y&a=z&b=2&c=&d=%2A');
  });

  it('derives the signing key from the AWS documentation example', () => {
    expect(deriveSigningKey(SECRET, '20120215', 'us-east-1', 'iam').toString('hex')).toBe(
      'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d',
    );
  });
});
