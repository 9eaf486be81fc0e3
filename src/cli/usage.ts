import type { ArgDef, CommandDef } from 'citty';
import type { Style } from './style.js';
import { argsOf, GLOBAL_FLAGS, metaOf, optionsOf, subCommandsOf } from './tree.js';
import { VERSION } from './version.js';

/** `(default: X)` once: from the declared default, unless the description already says it. */
function describe(def: ArgDef): string {
  const text = def.description ?? '';
  const declared = 'default' in def ? def.default : undefined;
  const notes = [
    def.type === 'positional' && def.required !== false ? '(required)' : '',
    def.type !== 'positional' && 'required' in def && def.required === true ? '(required)' : '',
    declared !== undefined && declared !== false && !/\bdefault\b/i.test(text) ? `(default: ${String(declared)})` : '',
  ].filter(Boolean);
  return [text, ...notes].join(' ');
}

const hint = (name: string, def: ArgDef): string =>
  'valueHint' in def && typeof def.valueHint === 'string' ? def.valueHint : name.toUpperCase();

function columns(rows: Array<[string, string]>, style: Style): string[] {
  const width = Math.min(30, Math.max(...rows.map(([left]) => left.length)));
  return rows.map(([left, right]) => {
    const pad = left.length > width ? `\n  ${' '.repeat(width + 2)}` : ' '.repeat(width - left.length + 2);
    return `  ${style.cyan(left)}${pad}${right}`.trimEnd();
  });
}

/**
 * The help of one command, rendered from its definition: what it does, how to call it, its
 * arguments, options (each default shown once) and subcommands. Plain text unless `style`
 * colours it (a terminal).
 */
export function renderUsage(cmd: CommandDef, path: readonly string[], style: Style): string {
  const meta = metaOf(cmd);
  const name = ['creddy', ...path].join(' ');
  const args = argsOf(cmd);
  const positionals = Object.entries(args).filter(([, def]) => def.type === 'positional');
  const options = optionsOf(cmd);
  const subs = subCommandsOf(cmd);
  const lines: string[] = [`${style.bold(name)}${path.length === 0 ? ` ${VERSION}` : ''} — ${meta.description ?? ''}`, ''];

  const call = [
    name,
    subs.length > 0 ? 'COMMAND' : '',
    options.length > 0 ? '[OPTIONS]' : '',
    ...positionals.map(([key, def]) => (def.required === false ? `[${key.toUpperCase()}]` : key.toUpperCase())),
  ].filter(Boolean);
  lines.push(style.bold('USAGE'), `  ${call.join(' ')}`, '');

  if (positionals.length > 0) {
    lines.push(
      style.bold('ARGUMENTS'),
      ...columns(
        positionals.map(([key, def]) => [key.toUpperCase(), describe(def)]),
        style,
      ),
      '',
    );
  }
  const optionRows: Array<[string, string]> = options.flatMap(
    ({ flags, legacy, takesValue, def, name: key, negated }): Array<[string, string]> => [
      [
        `${flags.join(', ')}${takesValue ? ` ${hint(key, def)}` : ''}`,
        [describe(def), legacy.length > 0 ? `(also ${legacy.join(', ')})` : ''].filter(Boolean).join(' '),
      ],
      // A boolean that can also be turned off (`--no-cache` over CREDDY_CACHE=1) says so on a row of its own.
      ...(negated !== undefined && def.type === 'boolean' ? [[negated, def.negativeDescription ?? ''] as [string, string]] : []),
    ],
  );
  if (subs.length === 0)
    optionRows.push(...GLOBAL_FLAGS.map((g): [string, string] => ['alias' in g ? `${g.alias}, ${g.flag}` : g.flag, g.description]));
  if (optionRows.length > 0) lines.push(style.bold('OPTIONS'), ...columns(optionRows, style), '');
  if (subs.length > 0) {
    lines.push(
      style.bold('COMMANDS'),
      ...columns(
        subs.map(([sub, def]) => [sub, metaOf(def).description ?? '']),
        style,
      ),
      '',
    );
    lines.push(`Run \`${['creddy help', ...path].join(' ')} COMMAND\` for the options of a command.`);
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
