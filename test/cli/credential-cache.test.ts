/**
 * The disk cache of `creddy get --cache` on its own, with an injected clock: the one-minute
 * margin to the millisecond, file and directory permissions, corrupt and foreign files, keys.
 * test/cli/get-cache.test.ts drives it through the CLI against a real broker.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheEnabled } from '../../src/cli/caller.js';
import {
  cacheDir,
  cacheEntryFor,
  cacheKey,
  callerIdentity,
  MIN_REMAINING_MS,
  openCredentialCache,
  usableUntil,
} from '../../src/cli/credential-cache.js';
import type { IssueResponse } from '../../src/wire.js';
import { tempDir } from '../helpers/setup.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const AGENT_TOKEN = 'ckr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function issued(overrides: Partial<IssueResponse> = {}): IssueResponse {
  return {
    id: 'cred-1',
    token: 'eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJjcmVkLTEifQ.c2ln',
    token_type: 'Bearer',
    expires_at: new Date(T0 + 600_000).toISOString(),
    backend: 'demo',
    scopes: ['read'],
    metadata: null,
    ttl: { requested: 600, granted: 600, clamped_by: null },
    credential: null,
    ...overrides,
  };
}

let root: { dir: string; cleanup: () => void };
let dir: string;
let now: number;
let warnings: string;
const open = () => openCredentialCache({ dir, now: () => now, stderr: { write: (t: string) => (warnings += t) } });
const key = (scopes: string[] = ['read'], caller = `token:${AGENT_TOKEN}`) =>
  cacheKey({ url: 'http://127.0.0.1:8400', caller, format: 'token', request: { backend: 'demo', scopes } });

beforeEach(() => {
  root = tempDir('creddy-cache-');
  dir = join(root.dir, 'cache', 'creddy');
  now = T0;
  warnings = '';
});
afterEach(() => root.cleanup());

describe('the one-minute margin', () => {
  it('hands a credential out while a minute or more is left, never with less', () => {
    const cache = open();
    cache.write(key(), issued());
    now = T0 + 600_000 - MIN_REMAINING_MS;
    expect(cache.read(key())?.id).toBe('cred-1');
    now += 1;
    expect(cache.read(key())).toBeUndefined();
  });

  it('counts from the downstream credential when it ends first', () => {
    const downstream = issued({
      credential: { type: 'aws_sts_session', revocation: 'expiry-only', expires_at: new Date(T0 + 300_000).toISOString() },
    });
    expect(usableUntil(downstream)).toBe(T0 + 300_000);
    const cache = open();
    cache.write(key(), downstream);
    now = T0 + 240_000;
    expect(cache.read(key())).toBeDefined();
    now += 1;
    expect(cache.read(key())).toBeUndefined();
  });

  it('does not store a credential that could never be handed out', () => {
    const cache = open();
    cache.write(key(), issued({ expires_at: new Date(T0 + 59_000).toISOString() }));
    expect(existsSync(join(dir, `${key()}.json`))).toBe(false);
  });
});

describe('files and permissions', () => {
  it('creates the directory 0700 and entries 0600, whatever the umask, leaving no temporary file', () => {
    const old = process.umask(0);
    try {
      open().write(key(), issued());
    } finally {
      process.umask(old);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual([`${key()}.json`]);
    expect(statSync(join(dir, `${key()}.json`)).mode & 0o777).toBe(0o600);
  });

  it('tightens an existing directory of ours to 0700', () => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    open().write(key(), issued());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('refuses a file that others can read, with a warning, and replaces it on the next write', () => {
    const cache = open();
    cache.write(key(), issued());
    const path = join(dir, `${key()}.json`);
    chmodSync(path, 0o640);
    expect(cache.read(key())).toBeUndefined();
    expect(warnings).toContain(`ignoring the cached credential ${path}: mode 0640 lets others read it`);
    cache.write(key(), issued({ id: 'cred-2' }));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(cache.read(key())?.id).toBe('cred-2');
  });

  it.runIf(process.getuid?.() === 0)('refuses a file owned by another user', () => {
    const cache = open();
    cache.write(key(), issued());
    const path = join(dir, `${key()}.json`);
    chownSync(path, 65534, 65534);
    expect(cache.read(key())).toBeUndefined();
    expect(warnings).toContain('owned by another user');
  });

  it('refuses to follow a symlink', () => {
    const cache = open();
    cache.write(key(['other']), issued());
    symlinkSync(join(dir, `${key(['other'])}.json`), join(dir, `${key()}.json`));
    expect(cache.read(key())).toBeUndefined();
    expect(warnings).toContain('a symlink');
  });

  it('ignores a corrupt file and replaces it', () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${key()}.json`);
    for (const junk of ['{"v":1,"key":', '[]', JSON.stringify({ v: 1, key: key(), issued: { id: 5 } })]) {
      writeFileSync(path, junk, { mode: 0o600 });
      expect(open().read(key())).toBeUndefined();
    }
    open().write(key(), issued());
    expect(open().read(key())?.id).toBe('cred-1');
    expect(warnings).toBe('');
  });

  it('ignores an entry copied under another name', () => {
    const cache = open();
    cache.write(key(['write']), issued());
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${key()}.json`), readFileSync(join(dir, `${key(['write'])}.json`)), { mode: 0o600 });
    expect(cache.read(key())).toBeUndefined();
  });

  it('prunes expired entries and stale temporary files when it writes', () => {
    const cache = open();
    cache.write(key(['old']), issued({ id: 'old', expires_at: new Date(T0 + 120_000).toISOString() }));
    const stale = join(dir, `.${key()}.1.abc.tmp`);
    writeFileSync(stale, '{', { mode: 0o600 });
    utimesSync(stale, (T0 - 3_600_000) / 1000, (T0 - 3_600_000) / 1000);
    now = T0 + 61_000;
    cache.write(key(), issued());
    expect(readdirSync(dir)).toEqual([`${key()}.json`]);
  });

  it('forgets a credential by id', () => {
    const cache = open();
    cache.write(key(['read']), issued({ id: 'a' }));
    cache.write(key(['write']), issued({ id: 'b' }));
    expect(cache.forget('a')).toBe(1);
    expect(cache.read(key(['read']))).toBeUndefined();
    expect(cache.read(key(['write']))?.id).toBe('b');
  });
});

describe('keys', () => {
  it('separate brokers, callers, formats and scopes; scope order does not matter', () => {
    const base = {
      url: 'http://127.0.0.1:8400',
      caller: `token:${AGENT_TOKEN}`,
      format: 'token',
      request: { backend: 'demo', scopes: ['a', 'b'] },
    };
    const keys = new Set([
      cacheKey(base),
      cacheKey({ ...base, url: 'http://127.0.0.1:8401' }),
      cacheKey({ ...base, caller: 'token:ckr_other' }),
      cacheKey({ ...base, format: 'credential-process' }),
      cacheKey({ ...base, request: { backend: 'demo', scopes: ['a'] } }),
      cacheKey({ ...base, request: { backend: 'demo', scopes: ['a', 'b'], ttl: '5m' } }),
      cacheKey({ ...base, request: { backend: 'other', scopes: ['a', 'b'] } }),
    ]);
    expect(keys.size).toBe(7);
    expect(cacheKey({ ...base, request: { backend: 'demo', scopes: ['b', 'a'] } })).toBe(cacheKey(base));
    expect(cacheKey({ ...base, url: 'http://127.0.0.1:8400/' })).toBe(cacheKey(base));
  });

  it('never put the caller token on disk', () => {
    const cache = open();
    cache.write(key(), issued());
    const [name] = readdirSync(dir);
    expect(name).toMatch(/^[0-9a-f]{64}\.json$/);
    expect(readFileSync(join(dir, name!), 'utf8')).not.toContain(AGENT_TOKEN);
  });

  it('know the caller by token, key pair or OIDC token, in the CLI precedence; GitHub Actions is not cacheable', () => {
    const cwd = root.dir;
    writeFileSync(join(cwd, 'id-token'), 'a.b.c\n');
    expect(callerIdentity({ cwd, env: { CREDDY_TOKEN: 't', CREDDY_AGENT_KEY_FILE: 'k', CREDDY_AGENT: 'a' } })).toBe('token:t');
    expect(callerIdentity({ cwd, env: { CREDDY_AGENT_KEY_FILE: 'k', CREDDY_AGENT: 'a' } })).toBe(`key-pair:a:${join(cwd, 'k')}`);
    // As caller-auth takes it: a token is trimmed, and a blank one is no token (two key-pair
    // agents behind a stray CREDDY_TOKEN="\n" must not share a cache entry).
    expect(callerIdentity({ cwd, env: { CREDDY_TOKEN: 't\n' } })).toBe('token:t');
    for (const agent of ['alpha', 'beta'])
      expect(callerIdentity({ cwd, env: { CREDDY_TOKEN: '\n', CREDDY_AGENT_KEY_FILE: 'k', CREDDY_AGENT: agent } })).toBe(
        `key-pair:${agent}:${join(cwd, 'k')}`,
      );
    expect(callerIdentity({ cwd, env: { CREDDY_OIDC_TOKEN: 'x.y.z' } })).toBe('oidc:x.y.z');
    expect(callerIdentity({ cwd, env: { CREDDY_OIDC_TOKEN_FILE: 'id-token' } })).toBe('oidc:a.b.c');
    expect(callerIdentity({ cwd, env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'y' } })).toBeUndefined();
  });
});

describe('one request', () => {
  it('is an entry of the user cache, or a note when the caller cannot be told apart', () => {
    const io = { cwd: root.dir, now: () => now, stderr: { write: (t: string) => (warnings += t) } };
    const parts = { url: 'http://127.0.0.1:8400', format: 'token', request: { backend: 'demo' } };
    const entry = cacheEntryFor({ ...io, env: { CREDDY_TOKEN: AGENT_TOKEN, XDG_CACHE_HOME: join(root.dir, 'cache') } }, parts);
    entry?.write(issued());
    expect(entry?.read()?.id).toBe('cred-1');
    expect(readdirSync(dir)).toHaveLength(1);
    expect(
      cacheEntryFor({ ...io, env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'y' } }, parts),
    ).toBeUndefined();
    expect(warnings).toBe(
      'creddy: note: not cached: the cache needs CREDDY_TOKEN, a key pair or CREDDY_OIDC_TOKEN[_FILE] to tell callers apart\n',
    );
  });
});

describe('where and when', () => {
  it('lives under XDG_CACHE_HOME when it is absolute, else ~/.cache', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/creddy');
    expect(cacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/creddy');
    expect(cacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/creddy');
  });

  it('is off unless --cache or CREDDY_CACHE says so; the flag wins', () => {
    expect(cacheEnabled(undefined, {})).toBe(false);
    expect(cacheEnabled(undefined, { CREDDY_CACHE: '1' })).toBe(true);
    expect(cacheEnabled(undefined, { CREDDY_CACHE: '0' })).toBe(false);
    expect(cacheEnabled(true, {})).toBe(true);
    expect(cacheEnabled(false, { CREDDY_CACHE: 'true' })).toBe(false);
  });
});
