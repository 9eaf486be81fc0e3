import type { ArgDef, ArgsDef } from 'citty';
import { CreddyError } from '../errors.js';

/** What a command's `run` reads: each declared arg by name, and `_`, every positional word. */
export type LeafArgs = Record<string, unknown> & { _: string[] };

/**
 * The `args` a command's `run` receives, from the argv `normalizeArgv` made unambiguous: options
 * as `--name=value`, booleans as written (`--json`, `--no-cache`, `--json=false`, an alias), and
 * positionals after `--`. (`help` gets its words as they are: bare words, no options.) The result
 * is what citty's own parse gave for that argv — each declared name (and its aliases, and its
 * camelCase form) set, defaults filled in, positionals assigned to their slots in order — with
 * citty's messages for what is missing, as ERR_USAGE. It is not citty's parse because
 * `normalizeArgv` has already done the hard part (unknown options, values starting with `-`, a
 * value given twice), and because citty's parse loads node:util's `parseArgs` and runs it for
 * every command: `creddy get` is measured in milliseconds (bench/cli-startup.mjs).
 *
 * @param def the command's declared args
 * @param argv the words after the command's name, as `normalizeArgv` returns them
 * @returns the parsed args
 * @throws A {@link CreddyError} `ERR_USAGE` when a required positional or option is missing
 */
export function leafArgs(def: ArgsDef, argv: readonly string[]): LeafArgs {
  const out: LeafArgs = { _: [] };
  const options = new Map<string, { name: string; def: ArgDef }>();
  const slots: Array<{ name: string; def: ArgDef }> = [];
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === 'positional') {
      slots.push({ name, def: arg });
      continue;
    }
    options.set(name, { name, def: arg });
    const aliases = 'alias' in arg ? arg.alias : undefined;
    for (const alias of typeof aliases === 'string' ? [aliases] : (aliases ?? [])) options.set(alias, { name, def: arg });
    if (arg.default !== undefined) out[name] = arg.default;
  }

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out._.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      out._.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const flag = (eq === -1 ? word : word.slice(0, eq)).replace(/^--?/, '');
    if (eq === -1 && flag.startsWith('no-') && options.get(flag.slice(3))?.def.type === 'boolean') {
      out[options.get(flag.slice(3))!.name] = false;
      continue;
    }
    const option = options.get(flag);
    if (option === undefined) {
      // Only `help`'s raw words get here (normalizeArgv refuses unknown options elsewhere).
      out[flag] = eq === -1 ? true : word.slice(eq + 1);
    } else if (option.def.type === 'boolean') {
      out[option.name] = eq === -1 ? true : word.slice(eq + 1) !== 'false';
    } else {
      out[option.name] = eq === -1 ? (argv[++i] ?? '') : word.slice(eq + 1);
    }
  }

  const positionals = [...out._];
  for (const { name, def: slot } of slots) {
    const word = positionals.shift();
    if (word !== undefined) out[name] = word;
    else if (slot.default === undefined && slot.required !== false)
      throw usage(`Missing required positional argument: ${name.toUpperCase()}`);
    else out[name] = slot.default;
  }
  for (const [key, { name, def: option }] of options) {
    if (key !== name) continue;
    if (option.required === true && out[name] === undefined) throw usage(`Missing required argument: --${name}`);
  }
  // Every spelling a command may read: the aliases and the camelCase form (`dry-run`, `dryRun`).
  for (const [key, { name }] of options) if (key !== name && out[name] !== undefined) out[key] = out[name];
  for (const name of Object.keys(out)) {
    const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (camel !== name) out[camel] = out[name];
  }
  return out;
}

function usage(message: string): CreddyError {
  return new CreddyError('ERR_USAGE', message);
}
