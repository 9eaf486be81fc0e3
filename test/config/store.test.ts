import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { clientConfig } from '../../src/store/postgres/connect.js';
import { tempDir } from '../helpers/harness.js';

const yaml = (store: string, extra = '') => `data_dir: ./data\nstore: ${JSON.stringify(store)}\n${extra}backends: {}\n`;
const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, '/etc/creddy/creddy.yaml', env).store;
const problem = (text: string, env: NodeJS.ProcessEnv = {}): string => {
  try {
    parse(text, env);
    return 'ok';
  } catch (err) {
    if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
    return err.message;
  }
};

describe('store: postgres URLs', () => {
  it('sqlite stays the default, in data_dir', () => {
    expect(parseConfig('backends: {}\n', '/etc/creddy/creddy.yaml', {}).store).toEqual({
      kind: 'sqlite',
      path: '/etc/creddy/data/creddy.db',
    });
  });

  it('accepts a postgres URL with a default pool of 10, or store_pool', () => {
    expect(parse(yaml('postgres://creddy@db.internal:5432/creddy?sslmode=verify-full'))).toEqual({
      kind: 'postgres',
      url: 'postgres://creddy@db.internal:5432/creddy?sslmode=verify-full',
      display: 'postgres://creddy@db.internal:5432/creddy?sslmode=verify-full',
      poolSize: 10,
    });
    expect(parse(yaml('postgresql://creddy@db/creddy', 'store_pool: 25\n'))).toMatchObject({ poolSize: 25 });
  });

  it('a password from ${env:} or ${file:} is percent-encoded into the URL and masked in display', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'pw');
      writeFileSync(file, 'p@ss/w:rd#1\n');
      const fromEnv = parse(yaml('postgres://creddy:${env:PGPW}@db:5432/creddy'), { PGPW: 'sê/cr@t' });
      expect(fromEnv).toMatchObject({
        url: 'postgres://creddy:s%C3%AA%2Fcr%40t@db:5432/creddy',
        display: 'postgres://creddy:***@db:5432/creddy',
      });
      const fromFile = parse(yaml(`postgres://creddy:\${file:${file}}@db/creddy`));
      expect(new URL((fromFile as { url: string }).url).password).toBe(encodeURIComponent('p@ss/w:rd#1'));
    } finally {
      cleanup();
    }
  });

  it.each([
    [yaml('postgres://db:5432'), 'store: must name the database'],
    [yaml('postgres://db/creddy?sslmode=prefer'), 'store: sslmode must be one of disable, require, verify-ca, verify-full'],
    [yaml('postgres://u:p@[bad/creddy'), 'store: is not a valid URL'],
    [yaml('sqlite', 'store_pool: 5\n'), 'store_pool: applies only to a postgres store'],
    [yaml('postgres://db/creddy', 'store_pool: 0\n'), 'store_pool: must be at least 1'],
    [yaml('mysql://db/creddy'), 'store: must be "sqlite" or a postgres:// URL'],
  ])('%s → %s', (text, message) => {
    expect(problem(text)).toContain(message);
  });

  it('problems never echo the URL, which may carry a password', () => {
    for (const text of [yaml('postgres://u:hunter2@db:5432'), yaml('postgres://u:hunter2@db/creddy?sslmode=allow')]) {
      const message = problem(text);
      expect(message).not.toBe('ok');
      expect(message).not.toContain('hunter2');
    }
  });

  it('display masks a password given as a query parameter (libpq reads ?password= and ?sslpassword=)', () => {
    const store = parse(yaml('postgres://u:pw1@db/creddy?password=hunter2&sslmode=require&SSLPassword=k3y&passfile=/etc/pgpass'));
    expect(store).toMatchObject({
      display: 'postgres://u:***@db/creddy?password=***&sslmode=require&SSLPassword=***&passfile=/etc/pgpass',
    });
    expect(parse(yaml('postgres://u@db/creddy?sslmode=require'))).toMatchObject({ display: 'postgres://u@db/creddy?sslmode=require' });
  });

  it('a connection setting that cannot be used names the masked URL, never a query password', () => {
    const store = parse(yaml('postgres://u@127.0.0.1/creddy?password=hunter2&sslcert=/nonexistent/cert.pem'));
    if (store.kind !== 'postgres') throw new Error('expected a postgres store');
    let message = '';
    try {
      clientConfig(store);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^store: cannot use postgres:\/\/u@127\.0\.0\.1\/creddy\?password=\*\*\*&sslcert=/);
    expect(message).not.toContain('hunter2');
  });
});
