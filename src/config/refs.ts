import { readFileSync } from 'node:fs';
import type { ConfigProblems } from '../_utils/config-reader.js';
import { isForbiddenKey } from '../_utils/object-keys.js';
import { CreddyError, isCreddyError } from '../errors.js';

const REF_RE = /\$\{(env|file):([^}]+)\}/g;

/**
 * Resolves `${env:NAME}` and `${file:/path}` inside one config string. Secrets live outside the
 * YAML; a missing variable or unreadable file is a config error naming the key path (never the
 * value). File contents lose trailing whitespace so `echo secret > file` works.
 */
export function resolveRefs(value: string, path: string, env: NodeJS.ProcessEnv, encode: (s: string) => string = (s) => s): string {
  return value.replace(REF_RE, (_match, kind: string, target: string) => {
    if (kind === 'env') {
      const found = env[target];
      if (found === undefined) throw new CreddyError('ERR_CONFIG_INVALID', `${path}: environment variable ${target} is not set`);
      return encode(found);
    }
    try {
      return encode(readFileSync(target, 'utf8').trimEnd());
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new CreddyError('ERR_CONFIG_INVALID', `${path}: cannot read file ${target} (${reason})`);
    }
  });
}

/**
 * A reference inside a postgres:// URL (`postgres://creddy:${file:/run/secrets/pg}@db/creddy`)
 * is one component of it, so its value is percent-encoded: a password with `@`, `/` or `:` works
 * as written. A reference that is the whole value is taken as a URL. So for the store, and for
 * the admin URL of a postgres backend (`backends.NAME.url`).
 */
const isUrlWithRefs = (path: string, node: string): boolean =>
  (path === 'store' || /^backends\.[^.]+\.url$/.test(path)) && /^postgres(ql)?:\/\//.test(node);

/**
 * Walks a parsed YAML tree and resolves references in every string, keeping key paths. With
 * `problems`, a reference that cannot be resolved is recorded there (and the string kept as
 * written, so the rest of the config is still checked); without, it throws.
 */
export function resolveTree(node: unknown, path: string, env: NodeJS.ProcessEnv, problems?: ConfigProblems): unknown {
  if (typeof node === 'string') {
    try {
      return resolveRefs(node, path, env, isUrlWithRefs(path, node) ? encodeURIComponent : undefined);
    } catch (err) {
      if (!problems || !isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
      problems.add(path, err.message.slice(path.length + 2));
      return node;
    }
  }
  if (Array.isArray(node)) return node.map((item, i) => resolveTree(item, `${path}[${i}]`, env, problems));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      const at = path ? `${path}.${key}` : key;
      if (isForbiddenKey(key)) throw new CreddyError('ERR_CONFIG_INVALID', `${at}: "${key}" is not allowed as a key`);
      out[key] = resolveTree(value, at, env, problems);
    }
    return out;
  }
  return node;
}
