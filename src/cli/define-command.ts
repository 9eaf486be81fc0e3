import type { ArgsDef, CommandDef } from 'citty';

/**
 * Declares a command: an identity that types `run`'s `args` by the declared ones, as citty's own
 * `defineCommand` does. creddy takes only citty's types: `leaf-args.ts` parses argv and
 * `run-leaf.ts` runs the command, so no CLI process loads citty (or the node:util parser it
 * imports) at all.
 */
export function defineCommand<const T extends ArgsDef = ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}
