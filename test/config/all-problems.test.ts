import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type CreddyError, isCreddyError } from '../../src/errors.js';

/** The ERR_CONFIG_INVALID a config text raises. */
function configError(yaml: string, env: NodeJS.ProcessEnv = {}): CreddyError {
  try {
    parseConfig(yaml, '/etc/creddy/creddy.yaml', env);
  } catch (err) {
    if (isCreddyError(err, 'ERR_CONFIG_INVALID')) return err;
    throw err;
  }
  throw new Error('the config loaded');
}

const problems = (err: CreddyError) => err.details?.['problems'] as Array<{ path: string; problem: string }>;

describe('config problems are reported all at once', () => {
  it('a copied config.example.yaml names every unresolved reference in one error', () => {
    const text = readFileSync(resolve(import.meta.dirname, '../../config.example.yaml'), 'utf8');
    const err = configError(text);
    expect(problems(err).map((p) => p.path)).toEqual([
      'backends.my-github.private_key',
      'backends.aws-prod.external_id',
      'backends.app-db.url',
    ]);
    expect(err.message).toContain('3 problems in /etc/creddy/creddy.yaml');
    expect(err.message).toContain('backends.aws-prod.external_id: environment variable AWS_EXTERNAL_ID is not set');
  });

  it('every section, backend and unknown key is checked, each problem under its key path', () => {
    const err = configError(
      [
        'issuer: x',
        'listen: 99',
        'log_level: loud',
        'keys:',
        '  rotation_period: soon',
        'agents:',
        '  default_ttl: 10s',
        'backends:',
        '  a:',
        '    type: generic',
        '    max_ttl: 1 hour',
        '    colour: 1',
        '    allowed_scopes: [read]',
        '  b:',
        '    type: vault',
        '  c:',
        '    type: aws',
        '    role_arn: nope',
        '    region: moon',
        '    allowed_scopes: ["s3:Get*"]',
        'foo: 1',
      ].join('\n'),
    );
    expect(problems(err).map((p) => p.path)).toEqual([
      'issuer',
      'listen',
      'keys.rotation_period',
      'backends.a.max_ttl',
      'backends.a.colour',
      'backends.b.type',
      'backends.c.role_arn',
      'backends.c.region',
      'agents.default_ttl',
      'log_level',
      'foo',
    ]);
    expect(err.message.split('\n')).toHaveLength(12);
  });

  it('one problem stays one line, as before', () => {
    const err = configError('backends:\n  demo:\n    type: generic\n    allowed_scopes: [read]\n    max_ttl: 1 hour\n');
    expect(err.message).toBe('backends.demo.max_ttl: invalid duration "1 hour" (use e.g. 90s, 15m, 1h, 30d or seconds)');
  });

  it('an unresolved reference is the problem, not the placeholder it leaves', () => {
    const err = configError(
      'backends:\n  gh:\n    type: github\n    app_id: 1\n    installation_id: 2\n    private_key: ${env:NO_SUCH_KEY}\n    allowed_scopes: ["contents:read"]\n',
    );
    expect(problems(err)).toEqual([{ path: 'backends.gh.private_key', problem: 'environment variable NO_SUCH_KEY is not set' }]);
  });
});
