import type { ArgDef, ArgsDef, CommandDef, CommandMeta } from 'citty';

/**
 * Reading the command tree (help, completion, argv dispatch). Top-level commands load on first
 * use (`loadTree`); below that, commands are plain objects, so a loaded tree is read synchronously.
 */

/**
 * A top-level command imported on first use: `summary` is what the root help lists without
 * loading it (the command's own description), `load` imports its module.
 */
export interface LazyCommand {
  readonly summary: string;
  /** Resolves to the command's `defineCommand` definition (typed by its own args, hence unknown here). */
  readonly load: () => Promise<unknown>;
}

/**
 * `root` with the top-level commands `names` loaded (all of them for 'all'; names that are not
 * commands are ignored) and every other one as a stub with its name and summary: enough to list
 * it in the root help, and nothing is imported for it.
 */
export async function loadTree(
  root: CommandDef,
  commands: Readonly<Record<string, LazyCommand>>,
  names: readonly string[] | 'all',
): Promise<CommandDef> {
  const entries = await Promise.all(
    Object.entries(commands).map(async ([name, lazy]): Promise<[string, CommandDef]> => {
      const wanted = names === 'all' || names.includes(name);
      return [name, wanted ? ((await lazy.load()) as CommandDef) : { meta: { name, description: lazy.summary } }];
    }),
  );
  return { ...root, subCommands: Object.fromEntries(entries) };
}

/** A command's meta. */
export const metaOf = (cmd: CommandDef): CommandMeta => (cmd.meta ?? {}) as CommandMeta;

/** A command's declared args. */
export const argsOf = (cmd: CommandDef): ArgsDef => (cmd.args ?? {}) as ArgsDef;

/** A command's subcommands, hidden ones left out unless asked for. */
export function subCommandsOf(cmd: CommandDef, options: { hidden?: boolean } = {}): Array<[string, CommandDef]> {
  const subs = (cmd.subCommands ?? {}) as Record<string, CommandDef>;
  return Object.entries(subs).filter(([, sub]) => options.hidden === true || metaOf(sub).hidden !== true);
}

/** The deepest command the leading words name: the command, its path of names, and how many words it took. */
export function resolveCommand(tree: CommandDef, words: readonly string[]): { cmd: CommandDef; path: string[]; depth: number } {
  let cmd = tree;
  const path: string[] = [];
  for (const word of words) {
    if (word.startsWith('-')) break;
    const next = (cmd.subCommands as Record<string, CommandDef> | undefined)?.[word];
    if (!next) break;
    cmd = next;
    path.push(word);
  }
  return { cmd, path, depth: path.length };
}

/** Every command of the tree with its path, the root first, depth-first. */
export function walkCommands(tree: CommandDef, path: string[] = []): Array<{ path: string[]; cmd: CommandDef }> {
  return [{ path, cmd: tree }, ...subCommandsOf(tree).flatMap(([name, sub]) => walkCommands(sub, [...path, name]))];
}

/**
 * Options of a command, as `--name` (and `-x` aliases), with whether each takes a value and the
 * `--no-name` form help shows for it, if any. A long alias (`--pubkey` for `--public-key`) is an
 * older spelling kept so scripts go on working: it is listed apart (`legacy`), so help shows the
 * one canonical name and mentions it, and completion offers only the canonical one.
 */
export function optionsOf(
  cmd: CommandDef,
): Array<{ flags: string[]; legacy: string[]; takesValue: boolean; def: ArgDef; name: string; negated: string | undefined }> {
  return Object.entries(argsOf(cmd))
    .filter(([, def]) => def.type !== 'positional')
    .map(([name, def]) => {
      const aliases: string[] = 'alias' in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
      const flags = [...aliases.filter((a) => a.length === 1).map((a) => `-${a}`), `--${name}`];
      const legacy = aliases.filter((a) => a.length > 1).map((a) => `--${a}`);
      // A boolean that can also be turned off on purpose (`--no-cache` over CREDDY_CACHE=1) says
      // so with a negativeDescription: help shows that flag, and completion offers it, from here.
      const negated = def.type === 'boolean' && typeof def.negativeDescription === 'string' ? `--no-${name}` : undefined;
      return { name, def, flags, legacy, takesValue: def.type !== 'boolean', negated };
    });
}

/** Flags every command accepts (handled by runCli itself). */
export const GLOBAL_FLAGS = [
  { flag: '--debug', description: 'Print a stack trace with an error' },
  { flag: '--help', alias: '-h', description: 'Show help for the command' },
] as const;
