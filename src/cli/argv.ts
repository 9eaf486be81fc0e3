import type { ArgsDef } from 'citty';
import { CreddyError } from '../errors.js';

/**
 * An id creddy generates: a credential id (16 random bytes) or a kid (RFC 7638 SHA-256
 * thumbprint), both base64url. One in 64 of them starts with `-`.
 */
const GENERATED_ID = /^(?:[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{43})$/;

/** Positionals that take a generated id (`keys revoke KID`, `revoke ID`, `agent key remove NAME JKT`). */
const ID_POSITIONALS = new Set(['kid', 'id', 'jkt']);

/** Comma-separated list options: repeating one appends (`--meta a=1 --meta b=2`). */
const LIST_OPTIONS = new Set(['can', 'scopes', 'meta', 'repos', 'hosts']);

/**
 * Rewrites the words after a leaf command's name into one unambiguous form, which `leafArgs`
 * (leaf-args.ts) then reads without guessing. A generic parser (citty's, node:util `parseArgs`
 * with `strict: false`, which creddy used before) reads `-AbC…` as a cluster of short flags and
 * `--jti -AbC…` as a flag with no value, so an id that happens to start with `-` was silently
 * dropped (and took the next option with it). Here, against the command's declared args:
 *
 * - a declared string option takes the next word as its value whatever it starts with, unless
 *   that word is itself one of the command's options (then the value is missing: a usage error);
 * - a word with the exact shape of a generated id fills an id positional (`kid`, `id`, `jkt`) even if it
 *   starts with `-`; everything else starting with `-` must be a declared option;
 * - an unknown option or a surplus positional is a usage error naming it, never a guess; so is
 *   an option given twice, except a list option, whose values are joined.
 *
 * Options are emitted as `--name=value`, and positionals after a `--` so the parser takes them
 * verbatim; `rest` (the words after the user's own `--`) joins them, the POSIX way to pass any
 * positional. For a `passthrough` command (`creddy exec`), `rest` is the child command instead:
 * it stays behind its own `--`, and the command's positionals may not start with `-`.
 */
export function normalizeArgv(args: ArgsDef, words: string[], rest: string[] | null, options: { passthrough?: boolean } = {}): string[] {
  const passthrough = options.passthrough === true;
  const declared = new Map<string, { name: string; takesValue: boolean }>();
  const slots: Array<{ name: string; required: boolean }> = [];
  for (const [name, def] of Object.entries(args)) {
    if (def.type === 'positional') {
      slots.push({ name, required: def.required === true });
      continue;
    }
    const entry = { name, takesValue: def.type !== 'boolean' };
    declared.set(`--${name}`, entry);
    if (!entry.takesValue) declared.set(`--no-${name}`, entry);
    const aliases = 'alias' in def ? def.alias : undefined;
    for (const alias of typeof aliases === 'string' ? [aliases] : (aliases ?? [])) {
      declared.set(alias.length === 1 ? `-${alias}` : `--${alias}`, entry);
    }
  }

  // Only an id slot may take a word that starts with `-`, and never in a passthrough command.
  const idSlot = (index: number): boolean => !passthrough && index < slots.length && ID_POSITIONALS.has(slots[index]!.name);

  const out: string[] = [];
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flag = eq === -1 ? word : word.slice(0, eq);
    const option = word.startsWith('-') && word !== '-' ? declared.get(flag) : undefined;
    if (option && !option.takesValue) {
      out.push(word);
    } else if (option) {
      let value = eq === -1 ? words[++i] : word.slice(eq + 1);
      if (value === undefined || (eq === -1 && declared.has(value.split('=')[0]!))) throw usage(`${flag} needs a value`);
      const previous = values.get(option.name);
      if (previous !== undefined && !LIST_OPTIONS.has(option.name)) throw usage(`--${option.name} given twice`);
      if (previous !== undefined) value = `${previous},${value}`;
      values.set(option.name, value);
    } else if (word.startsWith('-') && word !== '-' && !(idSlot(positionals.length) && GENERATED_ID.test(word))) {
      const hint = slots.length > 0 && !passthrough ? ' (to pass a value that starts with -, put it after --)' : '';
      throw usage(`unknown option ${flag.slice(0, 64)}${hint}`);
    } else if (positionals.length >= slots.length) {
      throw usage(`unexpected argument ${word.slice(0, 64)}`);
    } else {
      positionals.push(word);
    }
  }

  for (const [name, value] of values) out.push(`--${name}=${value}`);
  // A passthrough command (creddy exec) reads what follows the user's `--` as its child command,
  // so its positionals stay before it and never start with `-` (refused above).
  if (passthrough) {
    // `creddy exec -- true` must not take the child command for the backend.
    const missing = slots.slice(positionals.length).find((slot) => slot.required);
    if (missing) throw usage(`missing ${missing.name.toUpperCase()} before --`);
    return rest === null ? [...out, ...positionals] : [...out, ...positionals, '--', ...rest];
  }
  const all = [...positionals, ...(rest ?? [])];
  if (all.length > slots.length) throw usage(`unexpected argument ${all[slots.length]!.slice(0, 64)}`);
  return all.length > 0 ? [...out, '--', ...all] : out;
}

function usage(message: string): CreddyError {
  return new CreddyError('ERR_USAGE', message);
}
