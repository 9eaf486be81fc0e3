/** secret and postgres backend config: each mistake refuses to start, naming the key path; no password in messages. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';

const parse = (backend: string[]) =>
  parseConfig(['backends:', '  b:', ...backend.map((l) => `    ${l}`)].join('\n'), '/tmp/creddy.yaml', {});

function configError(backend: string[]): string {
  try {
    parse(backend);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ERR_CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

const secret = ['type: secret', 'allowed_scopes: ["prod/stripe/*", "prod/shared-key"]'];
const pg = ['type: postgres', 'url: postgres://admin:hunter2@db.internal:6543/app?sslmode=require', 'allowed_scopes: [read, write]'];
const roles = ['roles: {read: [app_read], write: [app_read, app_write]}'];

describe('type: secret config', () => {
  it('accepts paths, prefixes, env names, grace and max_age', () => {
    const config = parse([...secret, 'env: {prod/stripe/api-key: STRIPE_API_KEY, prod/shared-key: SHARED}', 'grace: 1h', 'max_age: 90d']);
    const settings = config.backends.get('b')!.settings as { env: Map<string, string>; grace: number; maxAge: number };
    expect([...settings.env]).toEqual([
      ['prod/stripe/api-key', 'STRIPE_API_KEY'],
      ['prod/shared-key', 'SHARED'],
    ]);
    expect(settings.grace).toBe(3600);
    expect(settings.maxAge).toBe(90 * 86_400);
    expect((parse(secret).backends.get('b')!.settings as { grace: number }).grace).toBe(0);
  });

  it.each([
    ['a scope that is no path', ['type: secret', 'allowed_scopes: ["prod//x"]'], /backends\.b\.allowed_scopes\[0\]: .*empty segment/],
    ['a colon in a path', ['type: secret', 'allowed_scopes: ["prod:x"]'], /allowed_scopes\[0\]: .*letters, digits/],
    ['a default outside the grammar', [...secret, 'default_scopes: ["prod/stripe/../x"]'], /default_scopes\[0\]/],
    [
      'an env path this backend never serves',
      [...secret, 'env: {prod/db/password: DB}'],
      /backends\.b\.env\.prod\/db\/password: is not covered/,
    ],
    ['a bad variable name', [...secret, 'env: {prod/stripe/a: 1BAD}'], /env\.prod\/stripe\/a: must be an environment variable name/],
    ['a CREDDY_ variable', [...secret, 'env: {prod/stripe/a: CREDDY_TOKEN}'], /CREDDY_\* variables are creddy’s own/],
    [
      'one variable for two paths',
      [...secret, 'env: {prod/stripe/a: X, prod/stripe/b: X}'],
      /env\.prod\/stripe\/b: X is already the variable of prod\/stripe\/a/,
    ],
    ['a list for env', [...secret, 'env: [X]'], /backends\.b\.env: must be a mapping/],
    ['a bad grace', [...secret, 'grace: soon'], /backends\.b\.grace: invalid duration/],
    ['a zero max_age', [...secret, 'max_age: 0'], /backends\.b\.max_age: must be longer than 0s/],
    ['an unknown key', [...secret, 'values: {a: b}'], /backends\.b\.values: unknown key/],
  ])('refuses %s', (_, lines, message) => {
    expect(configError(lines)).toMatch(message);
  });
});

describe('type: postgres config', () => {
  it('reads host, port, database and sslmode from the admin URL', () => {
    const settings = parse([...pg, ...roles]).backends.get('b')!.settings as Record<string, unknown>;
    expect(settings).toMatchObject({ host: 'db.internal', port: 6543, database: 'app', sslmode: 'require', rolePrefix: 'creddy_' });
    expect(settings['reassignTo']).toBeUndefined();
    const kept = parse([...pg, ...roles, 'reassign_owned_to: app_kept']).backends.get('b')!.settings as { reassignTo: string };
    expect(kept.reassignTo).toBe('app_kept');
    expect(settings['display']).toBe('postgres://admin:***@db.internal:6543/app?sslmode=require');
    expect([...(settings['roles'] as Map<string, string[]>)]).toEqual([
      ['read', ['app_read']],
      ['write', ['app_read', 'app_write']],
    ]);
  });

  it('percent-encodes a reference inside the URL, and takes a whole-value reference as the URL', () => {
    const withRef = (url: string, env: NodeJS.ProcessEnv) =>
      parseConfig(
        ['backends:', '  b:', '    type: postgres', `    url: ${url}`, '    allowed_scopes: [read]', '    roles: {read: [r]}'].join('\n'),
        '/tmp/c.yaml',
        env,
      ).backends.get('b')!.settings as { url: string; display: string };
    const inside = withRef('postgres://admin:${env:PW}@db/app', { PW: 'p@ss/w:rd' });
    expect(inside.url).toBe('postgres://admin:p%40ss%2Fw%3Ard@db/app');
    expect(inside.display).toBe('postgres://admin:***@db/app');
    expect(withRef('${env:URL}', { URL: 'postgres://admin:x@db/app' }).url).toBe('postgres://admin:x@db/app');
  });

  it.each([
    [
      'a URL that is not postgres',
      ['type: postgres', 'url: mysql://a@b/c', 'allowed_scopes: [read]', ...roles],
      /backends\.b\.url: must be a postgres:\/\/ URL/,
    ],
    [
      'a URL without database',
      ['type: postgres', 'url: postgres://admin:hunter2@db/', 'allowed_scopes: [read]', ...roles],
      /url: must name the database .*admin:\*\*\*@db/,
    ],
    ['no roles', pg, /backends\.b\.roles: is required/],
    [
      'an allowed scope no role set has',
      [...pg.slice(0, 2), 'allowed_scopes: [admin]', ...roles],
      /allowed_scopes\[0\]: "admin" matches no scope under roles/,
    ],
    ['an empty role list', [...pg, 'roles: {read: [], write: [x]}'], /backends\.b\.roles\.read: must name at least one role/],
    ['a role name with a quote', [...pg, `roles: {read: ['a"b'], write: [x]}`], /roles\.read\[0\]: must be a PostgreSQL role name/],
    ['a wildcard under roles', [...pg, 'roles: {"read*": [x]}'], /roles\.read\*: scope names here/],
    ['a bad role_prefix', [...pg, ...roles, 'role_prefix: Creddy-'], /backends\.b\.role_prefix: must be 1-32 characters/],
    [
      'a reassign_owned_to that is no role name',
      [...pg, ...roles, 'reassign_owned_to: "a b"'],
      /backends\.b\.reassign_owned_to: must be a PostgreSQL role name/,
    ],
    [
      'a reassign_owned_to that scopes map to',
      [...pg, ...roles, 'reassign_owned_to: app_write'],
      /backends\.b\.reassign_owned_to: "app_write" is a role scopes map to/,
    ],
    [
      'a reassign_owned_to with the role prefix',
      [...pg, ...roles, 'reassign_owned_to: creddy_keep'],
      /reassign_owned_to: must not start with role_prefix "creddy_"/,
    ],
    [
      'a default scope that is no role set',
      [...pg.slice(0, 2), 'allowed_scopes: ["*"]', ...roles, 'default_scopes: ["re*"]'],
      /default_scopes\[0\]: "re\*" is not a scope under roles/,
    ],
  ])('refuses %s', (_, lines, message) => {
    const text = configError(lines);
    expect(text).toMatch(message);
    expect(text).not.toContain('hunter2');
  });
});
