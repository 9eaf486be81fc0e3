import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  type Stats,
  unlinkSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { writePrivateFile } from '../_utils/fs.js';
import type { IssueResponse } from '../wire.js';
import type { CliIo, CliOutput } from './io.js';

/**
 * The opt-in cache of `creddy get --cache`: a still-valid credential comes from a file instead
 * of the broker, for helpers that a tool runs before every command (the AWS CLI runs its
 * `credential_process` each time). One file per request and caller, `<sha256>.json`, 0600, in a
 * 0700 directory. What it holds is the issued credential itself, as ~/.aws/cli/cache holds AWS
 * sessions: anyone who can read the file as this user can use the credential until it expires.
 *
 * Revocation does not reach it: a credential revoked at the broker (`creddy revoke`, an agent's
 * revocation, a key's) is still handed out from the cache until it has less than a minute left.
 * `creddy revoke ID` drops it from this user's cache; removing the directory drops them all.
 */

/** A cached credential is handed out only while at least this much of its life is left. */
export const MIN_REMAINING_MS = 60_000;

/** Larger files are not ours (an entry is a few KB). */
const MAX_ENTRY_BYTES = 256 * 1024;
/** A temporary file older than this was left by a writer that died between write and rename. */
const STALE_TEMP_MS = 60_000;
const ENTRY_NAME = /^[0-9a-f]{64}\.json$/;
const FORMAT_VERSION = 1;

/** `$XDG_CACHE_HOME/creddy` (an absolute XDG_CACHE_HOME only, as the spec says), else `~/.cache/creddy`. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && isAbsolute(xdg)) return join(xdg, 'creddy');
  return join(env['HOME'] || homedir(), '.cache', 'creddy');
}

/**
 * Who is asking, as the cache key sees it, with the precedence of cli/caller-auth.ts: the agent
 * token, the key-pair agent's name and key file, or the OIDC ID token. Undefined when the
 * identity is known only after a request (GitHub Actions' ID token service): not cacheable.
 * Only a hash of this ever reaches the disk.
 */
export function callerIdentity(io: Pick<CliIo, 'env' | 'cwd'>): string | undefined {
  const { env } = io;
  // Trimmed, as caller-auth.ts takes it: a blank CREDDY_TOKEN is no token there, nor here.
  const token = env['CREDDY_TOKEN']?.trim();
  if (token) return `token:${token}`;
  if (env['CREDDY_AGENT_KEY_FILE'] && env['CREDDY_AGENT'])
    return `key-pair:${env['CREDDY_AGENT']}:${resolve(io.cwd, env['CREDDY_AGENT_KEY_FILE'])}`;
  // Half a key pair is refused by caller-auth.ts, whatever OIDC token is there: not cacheable.
  if (env['CREDDY_AGENT_KEY_FILE'] || env['CREDDY_AGENT']) return undefined;
  if (env['CREDDY_OIDC_TOKEN']) return `oidc:${env['CREDDY_OIDC_TOKEN'].trim()}`;
  const file = env['CREDDY_OIDC_TOKEN_FILE'];
  if (file) {
    try {
      return `oidc:${readFileSync(resolve(io.cwd, file), 'utf8').trim()}`;
    } catch {
      return undefined; // the request itself will report the unreadable file
    }
  }
  return undefined;
}

/** What a cache entry is for: the broker, the caller, the output format and the request. */
export interface CacheKeyParts {
  readonly url: string;
  readonly caller: string;
  readonly format: string;
  readonly request: { readonly backend: string; readonly scopes?: readonly string[] } & Readonly<Record<string, unknown>>;
}

/** The entry's name: SHA-256 over its parts (scopes in any order are one request). */
export function cacheKey(parts: CacheKeyParts): string {
  const request = { ...parts.request, ...(parts.request.scopes ? { scopes: [...parts.request.scopes].sort() } : {}) };
  const canonical = JSON.stringify([
    'creddy-cache',
    FORMAT_VERSION,
    parts.url.replace(/\/+$/, ''),
    parts.caller,
    parts.format,
    sorted(request),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, sorted(v)]),
  );
}

/**
 * When a credential stops being usable: the earlier of the token's expiry and its downstream
 * credential's (an AWS session can end before the JWT). NaN when neither parses.
 */
export function usableUntil(issued: IssueResponse): number {
  const token = Date.parse(issued.expires_at);
  const downstream = issued.credential?.expires_at;
  return typeof downstream === 'string' ? Math.min(token, Date.parse(downstream)) : token;
}

/** The on-disk cache of one user. */
export interface CredentialCache {
  readonly dir: string;
  /** The entry's credential while it has at least a minute left; undefined otherwise (missing, expired, corrupt, insecure). */
  read(key: string): IssueResponse | undefined;
  /** Stores a credential atomically (0600, then rename); failures are warnings, never errors. */
  write(key: string, issued: IssueResponse): void;
  /** Removes every entry holding credential `id`; returns how many. */
  forget(id: string): number;
}

export interface CredentialCacheOptions {
  readonly dir: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Where warnings go (a file refused as insecure, a failed write). */
  readonly stderr: CliOutput;
}

interface Entry {
  readonly v: number;
  readonly key: string;
  readonly issued: IssueResponse;
}

/** The cache in `dir`, created on first write. */
export function openCredentialCache({ dir, now, stderr }: CredentialCacheOptions): CredentialCache {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const warn = (message: string): void => void stderr.write(`creddy: warning: ${message}\n`);

  /** The entry in `name` if it is a regular file of ours that only we can read and holds a well-formed entry. */
  const load = (name: string, options: { quiet: boolean }): Entry | undefined => {
    const path = join(dir, name);
    let fd: number;
    try {
      // Never through a symlink: the file must be the one in our directory.
      fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && !options.quiet) warn(`ignoring the cached credential ${path}: ${code === 'ELOOP' ? 'a symlink' : code}`);
      return undefined;
    }
    try {
      const stat = fstatSync(fd);
      const problem = !stat.isFile()
        ? 'not a regular file'
        : uid !== undefined && stat.uid !== uid
          ? 'owned by another user'
          : (stat.mode & 0o077) !== 0
            ? `mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')} lets others read it (must be 0600)`
            : undefined;
      if (problem) {
        if (!options.quiet) warn(`ignoring the cached credential ${path}: ${problem}`);
        return undefined;
      }
      if (stat.size > MAX_ENTRY_BYTES) return undefined;
      return parseEntry(readFileSync(fd, 'utf8'), name.slice(0, -'.json'.length));
    } finally {
      closeSync(fd);
    }
  };

  const fresh = (issued: IssueResponse): boolean => usableUntil(issued) - now() >= MIN_REMAINING_MS;

  /** Our directory, made 0700 if it is not; undefined (and a warning) when it cannot be ours. */
  const ensureDir = (): string | undefined => {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stat = lstatSync(dir);
      if (!stat.isDirectory()) throw new Error('not a directory');
      if (uid !== undefined && stat.uid !== uid) throw new Error('owned by another user');
      if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
      return dir;
    } catch (err) {
      warn(`not caching the credential: ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };

  const names = (): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };

  /** Entries no longer worth keeping (corrupt, or less than a minute left) and temporary files a dead writer left. */
  const prune = (keep: string): void => {
    for (const name of names()) {
      const path = join(dir, name);
      if (ENTRY_NAME.test(name) && name !== keep) {
        const entry = load(name, { quiet: true });
        if (entry === undefined || !fresh(entry.issued)) removeOurs(path, uid);
      } else if (name.startsWith('.') && name.endsWith('.tmp')) {
        const stat = lstatSafe(path);
        if (stat && now() - stat.mtimeMs > STALE_TEMP_MS) removeOurs(path, uid);
      }
    }
  };

  return {
    dir,
    read(key) {
      const entry = load(`${key}.json`, { quiet: false });
      return entry && fresh(entry.issued) ? entry.issued : undefined;
    },
    write(key, issued) {
      if (!fresh(issued) || ensureDir() === undefined) return;
      const name = `${key}.json`;
      try {
        // Through a temporary file and a rename: a reader sees the old entry or the new one, never half of one.
        writePrivateFile(join(dir, name), JSON.stringify({ v: FORMAT_VERSION, key, issued } satisfies Entry), { overwrite: true });
      } catch (err) {
        warn(`not caching the credential: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        return;
      }
      prune(name);
    },
    forget(id) {
      let removed = 0;
      for (const name of names()) {
        if (!ENTRY_NAME.test(name)) continue;
        if (load(name, { quiet: true })?.issued.id === id && removeOurs(join(dir, name), uid)) removed++;
      }
      return removed;
    },
  };
}

/** One request's entry in the user's cache. */
export interface CacheEntry {
  read(): IssueResponse | undefined;
  write(issued: IssueResponse): void;
}

/**
 * The entry for a `get` in the user's cache (cacheDir), or undefined with a note on stderr when
 * the caller cannot be told apart before asking (callerIdentity).
 */
export function cacheEntryFor(
  io: Pick<CliIo, 'env' | 'cwd' | 'stderr'> & { readonly now: () => number },
  parts: Omit<CacheKeyParts, 'caller'>,
): CacheEntry | undefined {
  const caller = callerIdentity(io);
  if (caller === undefined) {
    io.stderr.write(
      'creddy: note: not cached: the cache needs CREDDY_TOKEN, a key pair or CREDDY_OIDC_TOKEN[_FILE] to tell callers apart\n',
    );
    return undefined;
  }
  const cache = openCredentialCache({ dir: cacheDir(io.env), now: io.now, stderr: io.stderr });
  const key = cacheKey({ ...parts, caller });
  return { read: () => cache.read(key), write: (issued) => cache.write(key, issued) };
}

/** An entry's JSON, if it is one and it names itself `key` (a file renamed or copied in is not). */
function parseEntry(text: string, key: string): Entry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const entry = value as Partial<Entry> | null;
  const issued = entry?.issued as Partial<IssueResponse> | undefined;
  if (entry?.v !== FORMAT_VERSION || entry.key !== key || typeof issued !== 'object' || issued === null) return undefined;
  if (typeof issued.id !== 'string' || typeof issued.token !== 'string' || typeof issued.expires_at !== 'string') return undefined;
  if (typeof issued.backend !== 'string' || (issued.credential !== null && typeof issued.credential !== 'object')) return undefined;
  return entry as Entry;
}

function lstatSafe(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Unlinks `path` if it is ours (never another user's file in a shared directory); true if removed. */
function removeOurs(path: string, uid: number | undefined): boolean {
  const stat = lstatSafe(path);
  if (!stat || (uid !== undefined && stat.uid !== uid)) return false;
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
