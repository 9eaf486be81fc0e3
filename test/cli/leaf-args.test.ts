/**
 * `leafArgs` reads the argv `normalizeArgv` made unambiguous into a command's `args`, in place of
 * citty's parse (which every CLI process used to load, node:util's parser with it). For every
 * command creddy has, and argv of every shape `normalizeArgv` emits, it must give what citty gave:
 * citty stays a dev dependency for its types, and is the oracle here.
 */
import type { ArgsDef, CommandDef } from 'citty';
import { parseArgs as cittyParse } from 'citty';
import { describe, expect, it } from 'vitest';
import { normalizeArgv } from '../../src/cli/argv.js';
import { commandTree } from '../../src/cli/index.js';
import { leafArgs } from '../../src/cli/leaf-args.js';
import { metaOf } from '../../src/cli/tree.js';

/** Every leaf command of the tree with its path (`audit list`). */
async function leaves(): Promise<Array<{ path: string; cmd: CommandDef }>> {
  const out: Array<{ path: string; cmd: CommandDef }> = [];
  const walk = (cmd: CommandDef, path: string[]) => {
    const subs = cmd.subCommands as Record<string, CommandDef> | undefined;
    if (subs && Object.keys(subs).length > 0) for (const [name, sub] of Object.entries(subs)) walk(sub, [...path, name]);
    else out.push({ path: path.join(' '), cmd });
  };
  walk(await commandTree(), []);
  return out;
}

/** Plausible words for each declared arg: every option set, then each boolean negated or given a value. */
function argvsFor(def: ArgsDef): string[][] {
  const entries = Object.entries(def);
  const positionals = entries.filter(([, a]) => a.type === 'positional').map(([name]) => `${name}-value`);
  const strings = entries.filter(([, a]) => a.type === 'string').flatMap(([name]) => [`--${name}`, `v-${name}`]);
  const booleans = entries.filter(([, a]) => a.type === 'boolean').map(([name]) => name);
  return [
    positionals,
    [...positionals, ...strings, ...booleans.map((b) => `--${b}`)],
    [...positionals, ...booleans.map((b) => `--no-${b}`)],
    [...positionals, ...booleans.map((b, i) => `--${b}=${i % 2 === 0 ? 'false' : 'true'}`)],
    positionals.slice(0, 1),
  ];
}

/** The declared names (and their camelCase forms) as a command reads them. */
function declared(def: ArgsDef, args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(def)) {
    out[name] = args[name];
    out[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = args[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
  }
  return out;
}

describe('leafArgs', () => {
  it("gives every command what citty's parse gave, for argv of every shape normalizeArgv emits", async () => {
    let compared = 0;
    for (const { path, cmd } of await leaves()) {
      if (path === 'help') continue; // its words are not normalised; it has its own test below
      const def = (cmd.args ?? {}) as ArgsDef;
      for (const words of argvsFor(def)) {
        let argv: string[];
        try {
          argv = normalizeArgv(def, words, null, { passthrough: path === 'exec' });
        } catch {
          continue; // refused before either parser runs
        }
        const ours = (() => {
          try {
            return { args: declared(def, leafArgs(def, argv)) };
          } catch (err) {
            return { error: (err as Error).message };
          }
        })();
        const theirs = (() => {
          try {
            const parsed = cittyParse(argv, def) as Record<string, unknown>;
            return { args: declared(def, parsed) };
          } catch (err) {
            return { error: (err as Error).message };
          }
        })();
        expect(ours, `${metaOf(cmd).name}: ${path} ${argv.join(' ')}`).toEqual(theirs);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('reads help words as they come: positionals, and `_` holds them all', () => {
    const def: ArgsDef = { command: { type: 'positional', description: 'x', required: false } };
    expect(leafArgs(def, ['agent', 'create'])).toMatchObject({ _: ['agent', 'create'], command: 'agent' });
    expect(leafArgs(def, [])).toMatchObject({ _: [], command: undefined });
  });

  it("says what is missing in citty's words, as ERR_USAGE", () => {
    const def: ArgsDef = {
      backend: { type: 'positional', description: 'x', required: true },
      name: { type: 'string', description: 'x', required: true },
    };
    expect(() => leafArgs(def, [])).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message: 'Missing required positional argument: BACKEND' }),
    );
    expect(() => leafArgs(def, ['--', 'demo'])).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message: 'Missing required argument: --name' }),
    );
    expect(leafArgs(def, ['--name=x', '--', 'demo'])).toMatchObject({ backend: 'demo', name: 'x', _: ['demo'] });
  });

  it('fills defaults, and sets aliases and camelCase forms', () => {
    const def: ArgsDef = {
      limit: { type: 'string', description: 'x', default: '100' },
      'public-key': { type: 'string', description: 'x', alias: 'pubkey' },
      'dry-run': { type: 'boolean', description: 'x' },
    };
    expect(leafArgs(def, [])).toMatchObject({ limit: '100' });
    expect(leafArgs(def, ['--pubkey=k', '--dry-run'])).toMatchObject({
      'public-key': 'k',
      pubkey: 'k',
      publicKey: 'k',
      'dry-run': true,
      dryRun: true,
    });
  });
});
