import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/_utils/duration.js';
import { describeError } from '../../src/_utils/error-chain.js';
import { cutRedacted, redact, redactCapped } from '../../src/_utils/redact.js';

describe('durations', () => {
  it.each([
    ['90s', 90],
    ['15m', 900],
    ['1h', 3600],
    ['30d', 2_592_000],
    ['2w', 1_209_600],
    ['45', 45],
    [45, 45],
    [' 5m ', 300],
  ])('%j = %d s', (input, seconds) => expect(parseDuration(input)).toBe(seconds));
  it.each(['1.5h', '-1m', '1h30m', 'm', '5 m', '5M', '1e3', '', 1.5, -1, null, {}])('rejects %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
  it('formats back', () => {
    expect([3600, 90, 86_400, 120].map(formatDuration)).toEqual(['1h', '90s', '1d', '2m']);
  });
});

describe('redact', () => {
  it('removes secret shapes but keeps the surrounding text', () => {
    const text =
      'token ckr_' +
      'a'.repeat(43) +
      ' gh ghs_' +
      'b'.repeat(36) +
      ' aws ASIAABCDEFGHIJKLMNOP jwt eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlc2ln "SessionToken":"abc"';
    const out = redact(text);
    expect(out).not.toMatch(/ckr_a|ghs_b|ASIAABCD|eyJhbGciOi|"abc"/);
    expect(out).toContain('token [REDACTED]');
  });

  it('masks an Authorization header’s credential with its scheme, whatever the token looks like', () => {
    expect(redact('request failed: {"authorization":"Bearer opaque-token-123","accept":"*/*"}')).toBe(
      'request failed: {"authorization":"[REDACTED]","accept":"*/*"}',
    );
    expect(redact('Authorization: Basic dXNlcjpwYXNz\nHost: x')).toBe('Authorization: [REDACTED]\nHost: x');
    expect(redact('authorization=DPoP abc.def')).toBe('authorization=[REDACTED]');
    expect(redact('authorization: s3cr3t')).toBe('authorization: [REDACTED]');
  });

  it('masks the password of a store URL, keeping user, host and database', () => {
    expect(redact('cannot use postgres://creddy:p%40ss@db:5432/creddy?sslmode=require now')).toBe(
      'cannot use postgres://creddy:[REDACTED]@db:5432/creddy?sslmode=require now',
    );
    expect(redact('postgresql://creddy@db/creddy')).toBe('postgresql://creddy@db/creddy');
    expect(redact('postgres://creddy:***@db/creddy')).toBe('postgres://creddy:***@db/creddy');
  });

  it('masks a password in a URL query (libpq reads ?password= and ?sslpassword=), keeping the other parameters', () => {
    expect(redact('cannot use postgres://u@db/c?password=hunter2&sslmode=require now')).toBe(
      'cannot use postgres://u@db/c?password=[REDACTED]&sslmode=require now',
    );
    expect(redact('{"store":"postgres://u@db/c?sslmode=require&sslpassword=k3y","at":"x"}')).toBe(
      '{"store":"postgres://u@db/c?sslmode=require&sslpassword=[REDACTED]","at":"x"}',
    );
    expect(redact('postgres://u@db/c?password=***&sslmode=require')).toBe('postgres://u@db/c?password=***&sslmode=require');
    expect(redact('at postgres://u@db/c?password=***: refused')).toBe('at postgres://u@db/c?password=***: refused');
    expect(redact('postgres://u@db/c?passfile=/etc/pgpass')).toBe('postgres://u@db/c?passfile=/etc/pgpass');
  });

  it('masks the password of any URL (a CREDDY_URL with credentials), never a port or a path', () => {
    expect(redact('cannot reach creddy at http://ops:S3cretPass@127.0.0.1:1: fetch failed')).toBe(
      'cannot reach creddy at http://ops:[REDACTED]@127.0.0.1:1: fetch failed',
    );
    for (const plain of ['http://127.0.0.1:8400/v1/x@y', 'https://creddy.example.com:443/a', 'ssh://git@github.com:org/repo']) {
      expect(redact(plain)).toBe(plain);
    }
    // A JSON log line: a URL, then later fields with an @ (an email claim) stay as they are.
    const lines = [
      '{"issuer":"https://gitlab.com","closest_rule":"deploy","failed":[{"claim":"user_email","expected":["ops@corp.com"],"actual":"dev@corp.com"}]}',
      '{"url":"http://127.0.0.1:8400","issuer":"http://127.0.0.1:8400","contact":"ops@example.com"}',
    ];
    for (const line of lines) expect(redact(line)).toBe(line);
    expect(redact('{"store":"postgres://app:s3cret@db/creddy","at":"x@y"}')).toBe(
      '{"store":"postgres://app:[REDACTED]@db/creddy","at":"x@y"}',
    );
  });

  it('redactCapped redacts before it cuts: a secret across the cut is not kept in part', () => {
    const token = `ckr_${'a1'.repeat(21)}`;
    // Cut first, 14 characters of the token would be left: too short to match, so kept.
    expect(redactCapped(`${'x'.repeat(109)}:${token}`, 128)).toBe(`${'x'.repeat(109)}:[REDACTED]`);
    const jwt = `eyJhbGciOiJFZERTQSJ9.${'eyJzdWIiOiJib3QifQ'.repeat(12)}.${'c2ln'.repeat(20)}`;
    expect(redactCapped(`scope:${jwt}`, 128)).toBe('scope:[REDACTED]');
    expect(redactCapped('read', 128)).toBe('read');
    expect(redactCapped(`${'y'.repeat(200)} ${token}`, 128)).toBe('y'.repeat(128));
  });

  it('describeError redacts the chain before it cuts it to 1000 characters', () => {
    const token = `ghs_${'Ab3'.repeat(12)}`;
    const err = new Error('upstream refused', { cause: new Error(`${'z'.repeat(975)} ${token}`) });
    // 'upstream refused ← ' is 19 characters: the token starts 6 before the cut.
    expect(describeError(err)).toBe(`upstream refused ← ${'z'.repeat(975)} [REDACTED]`.slice(0, 1000));
    expect(describeError(err)).not.toContain('ghs_');
  });

  it('cutRedacted cuts first (bounded work) and still masks a secret whose start is left at the cut', () => {
    const token = `ckr_${'a1'.repeat(21)}`;
    expect(cutRedacted(`/v1/agents/${token}`, 20)).toBe('/v1/agents/[REDACTED]');
    expect(cutRedacted(`/v1/agents/${'p'.repeat(240)}/${token}`, 256)).toBe(`/v1/agents/${'p'.repeat(240)}/[REDACTED]`);
    const jwt = `eyJhbGciOiJFZERTQSJ9.${'eyJzdWIiOiJib3QifQ'.repeat(4)}.${'c2ln'.repeat(20)}`;
    expect(cutRedacted(`bad ${jwt}`, 100)).toBe('bad [REDACTED]');
    // Not cut: as redact; cut in plain text: nothing masked.
    expect(cutRedacted(`x ${token}`, 256)).toBe('x [REDACTED]');
    expect(cutRedacted('/v1/credentials/abc', 12)).toBe('/v1/credenti');
    expect(cutRedacted('/v1/checkr_abcdef', 17)).toBe('/v1/checkr_abcdef');
    expect(cutRedacted('/v1/checkr_abcdef', 16)).toBe('/v1/checkr_abcde');
  });
});
