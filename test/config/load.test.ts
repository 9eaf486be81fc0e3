import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, unreadable } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { tempDir } from '../helpers/setup.js';

const base = `issuer: https://creddy.example.com
listen: 127.0.0.1:8400
data_dir: ./data
`;
const backend = (extra: string) => `${base}backends:
  svc:
    type: generic
    allowed_scopes: [read, write]
${extra}`;

/** Parses and returns the error message, or 'ok'. */
function problem(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(yaml, '/etc/creddy/creddy.yaml', env);
    return 'ok';
  } catch (err) {
    if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
    return err.message;
  }
}

describe('config validation names the key path', () => {
  it.each([
    [backend('    max_tll: 1h'), 'backends.svc.max_tll: unknown key'],
    [backend('    max_ttl: 1 hour'), 'backends.svc.max_ttl: invalid duration'],
    [backend('    max_ttl: 1.5h'), 'backends.svc.max_ttl: invalid duration'],
    [backend('    default_ttl: 2h\n    max_ttl: 1h'), 'backends.svc.default_ttl: must not exceed max_ttl'],
    [backend('    max_ttl: 30s'), 'backends.svc.max_ttl: must be at least 60s'],
    [backend('    default_scopes: [admin]'), 'backends.svc.default_scopes[0]: is not covered by allowed_scopes'],
    [backend('    allowed_scopes: [read]\n'), 'Map keys must be unique'],
    [`${base}backends:\n  svc:\n    type: vault\n    allowed_scopes: [read]`, 'backends.svc.type: unknown backend type "vault"'],
    [`${base}backends:\n  svc:\n    type: generic\n    allowed_scopes: read`, 'backends.svc.allowed_scopes: must be a list of strings'],
    [`${base}backends:\n  svc:\n    type: generic\n    allowed_scopes: ["bad*scope"]`, 'backends.svc.allowed_scopes[0]'],
    [`${base}backends:\n  svc:\n    type: generic`, 'backends.svc.allowed_scopes: is required'],
    [`${base}backends:\n  Bad_Name:\n    type: generic\n    allowed_scopes: [read]`, 'backend name must match'],
    [`${base}keys:\n  jwks_max_age: 2h\n  publish_ahead: 1h`, 'keys.jwks_max_age: must not exceed publish_ahead'],
    [`${base}keys:\n  rotation_period: soon`, 'keys.rotation_period: invalid duration'],
    [`${base}issuer: x`, 'Map keys must be unique'],
    [`issuer: not-a-url\n`, 'issuer: must be an http(s) URL'],
    [`issuer: https://x.example/\n`, 'issuer: must be an http(s) URL without a trailing slash'],
    [`listen: 8400\n`, 'listen: must be HOST:PORT'],
    [`store: mysql://x\n`, 'store: must be "sqlite" or a postgres:// URL'],
    [`${base}colour: blue`, 'colour: unknown key'],
    [`${base}auth_throttle:\n  max_failures: 0`, 'auth_throttle.max_failures'],
    [`${base}auth_throttle:\n  block: 2d`, 'auth_throttle.block: must be at most 1d'],
    [`${base}auth_throttle:\n  windw: 1m`, 'auth_throttle.windw: unknown key'],
    [`- a\n- b\n`, '(root): must be a mapping'],
    [`a: [unclosed\n`, '/etc/creddy/creddy.yaml:'],
    [
      `${base}backends:\n  svc:\n    type: generic\n    audience: \${env:MISSING_VAR}\n    allowed_scopes: [read]`,
      'backends.svc.audience: environment variable MISSING_VAR is not set',
    ],
    [
      `${base}backends:\n  svc:\n    type: generic\n    audience: \${file:/nonexistent/creddy}\n    allowed_scopes: [read]`,
      'backends.svc.audience: cannot read file /nonexistent/creddy (ENOENT)',
    ],
  ])('%#: rejects with "%s"', (yaml, expected) => {
    expect(problem(yaml)).toContain(expected);
  });

  it('accepts a minimal config and fills defaults', () => {
    const config = parseConfig('backends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n', '/srv/creddy.yaml', {});
    expect(config.issuer).toBe('http://127.0.0.1:8400');
    expect(config.dataDir).toBe('/srv/data');
    expect(config.keys).toEqual({ rotationPeriod: 2_592_000, publishAhead: 3600, jwksMaxAge: 300, clockSkew: 60 });
    expect(config.authThrottle).toEqual({ maxFailures: 10, window: 60, block: 300, maxAuditedPerWindow: 600 });
    const demo = config.backends.get('demo')!;
    expect(demo.common).toMatchObject({ defaultTtl: 900, maxTtl: 3600, allowedScopes: ['read'], defaultScopes: [] });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('resolves ${env:…} and ${file:…} without echoing values in errors', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'aud');
      writeFileSync(file, 'from-file\n');
      const config = parseConfig(
        `issuer: \${env:CREDDY_TEST_ISSUER}\nbackends:\n  a:\n    type: generic\n    audience: \${file:${file}}\n    allowed_scopes: [read]\n`,
        join(dir, 'c.yaml'),
        { CREDDY_TEST_ISSUER: 'https://issuer.example' },
      );
      expect(config.issuer).toBe('https://issuer.example');
      expect(config.backends.get('a')!.settings).toEqual({ audience: 'from-file' });
    } finally {
      cleanup();
    }
  });
});

/**
 * A verifier checks `aud`: two backends with one audience would let a token issued for one pass
 * at the other's service (an agent granted `sandbox:*` gets `refund` for `payments`, as Bearer
 * even where payments requires DPoP), so config load refuses them.
 */
describe('every backend has an audience of its own', () => {
  const sandbox = '  sandbox:\n    type: generic\n    audience: payments\n    allowed_scopes: ["*"]\n';
  const payments = '  payments:\n    type: generic\n    require_dpop: true\n    allowed_scopes: [refund]\n';

  it.each([
    ['before', `${base}backends:\n${sandbox}${payments}`],
    ['after', `${base}backends:\n${payments}${sandbox}`],
  ])('refuses a generic audience that is another backend’s name (declared %s it), at the key that set it', (_order, yaml) => {
    expect(problem(yaml)).toBe(
      'backends.sandbox.audience: audience "payments" is also the audience of backend "payments": each backend needs an audience ' +
        "of its own, or a verifier that checks aud accepts one backend's tokens for the other",
    );
  });

  it('refuses two generic backends with one audience, naming both', () => {
    const yaml = `${base}backends:
  reports-read:
    type: generic
    audience: https://reports.internal
    allowed_scopes: [read]
  reports-admin:
    type: generic
    audience: https://reports.internal
    allowed_scopes: [admin]
`;
    expect(problem(yaml)).toMatch(
      /^backends\.reports-admin\.audience: audience "https:\/\/reports\.internal" is also the audience of backend "reports-read": /,
    );
  });

  it('refuses a generic audience that is the name of a backend of another type', () => {
    const yaml = `${base}backends:
  s3:
    type: aws
    role_arn: arn:aws:iam::111122223333:role/agents
    allowed_scopes: ["s3:Get*"]
  fake-s3:
    type: generic
    audience: s3
    allowed_scopes: ["*"]
`;
    expect(problem(yaml)).toMatch(/^backends\.fake-s3\.audience: audience "s3" is also the audience of backend "s3": /);
  });

  it('reports a shared audience beside the other problems, with ERR_CONFIG_INVALID', () => {
    try {
      parseConfig(`${base}backends:\n${sandbox}${payments}colour: blue\n`, '/etc/creddy/creddy.yaml', {});
      expect.unreachable('config was accepted');
    } catch (err) {
      expect(isCreddyError(err, 'ERR_CONFIG_INVALID')).toBe(true);
      const problems = (err as { details: { problems: Array<{ path: string }> } }).details.problems.map((p) => p.path);
      expect(problems).toEqual(['backends.sandbox.audience', 'colour']);
    }
  });

  it('accepts distinct audiences, an audience equal to its own backend’s name, and ignores unresolved ones', () => {
    const yaml = (a: string, b: string) =>
      `${base}backends:\n  a:\n    type: generic\n    audience: ${a}\n    allowed_scopes: [read]\n  b:\n    type: generic\n    audience: ${b}\n    allowed_scopes: [read]\n`;
    expect(problem(yaml('https://a.internal', 'https://b.internal'))).toBe('ok');
    expect(problem(yaml('a', 'b'))).toBe('ok');
    // Two missing variables are two problems of their own, not one audience.
    expect(problem(yaml('${env:MISSING_A}', '${env:MISSING_B}'))).not.toContain('is also the audience');
  });
});

describe('a config file that cannot be read', () => {
  const reason = (path: string): string => {
    try {
      loadConfig(path, {});
      return 'ok';
    } catch (err) {
      if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
      return err.message;
    }
  };

  it('missing: ENOENT and `creddy init`; a directory: EISDIR', () => {
    const { dir, cleanup } = tempDir();
    try {
      expect(reason(join(dir, 'creddy.yaml'))).toMatch(/^cannot read config .*creddy\.yaml: ENOENT, no such file \(run `creddy init`/);
      mkdirSync(join(dir, 'conf'));
      const isDir = reason(join(dir, 'conf'));
      expect(isDir).toMatch(/: EISDIR, a directory/);
      expect(isDir).not.toContain('creddy init');
    } finally {
      cleanup();
    }
  });

  it('unreadable (creddy init wrote it 0600 for another user): EACCES, the reader uid and the Docker uid, not `creddy init`', () => {
    for (const code of ['EACCES', 'EPERM']) {
      const text = unreadable(Object.assign(new Error(`${code}: open`), { code }));
      expect(text).toContain(`${code}, permission denied: make it readable by the user the server runs as (uid ${process.getuid?.()}`);
      expect(text).toContain('in the Docker image uid 10001');
      expect(text).not.toContain('creddy init');
    }
    // From a file the OS refuses, where it can: root reads any file (and a process of another
    // uid cannot reach a checkout in a 0700 temp dir, as CI's clone is).
    if (process.getuid?.() === 0) return;
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'creddy.yaml');
      writeFileSync(path, 'backends: {}\n', { mode: 0o000 });
      expect(reason(path)).toBe(`cannot read config ${path}: ${unreadable(Object.assign(new Error('EACCES'), { code: 'EACCES' }))}`);
    } finally {
      cleanup();
    }
  });
});
