import type { CliOutput } from './io.js';

/**
 * Beyond C0: DEL, the C1 controls, line and paragraph separators and bidirectional overrides.
 * With C0, what could clear a screen, recolour or forge a row, or reorder what is shown.
 */
const BEYOND_C0 = '\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const UNPRINTABLE = new RegExp(`[\\u0000-\\u001f${BEYOND_C0}]`, 'g');

/**
 * Prints a value as pretty JSON (the `--json` form of every read command). JSON.stringify escapes
 * only U+0000–U+001F: DEL, the C1 controls (U+009B is CSI to some terminals) and the bidi
 * overrides of UNPRINTABLE are escaped as `\uXXXX` too, still the same JSON once parsed.
 */
export function printJson(out: CliOutput, value: unknown): void {
  out.write(`${escapeUnprintable(JSON.stringify(value, null, 2))}\n`);
}

/**
 * UNPRINTABLE without C0: JSON text escapes C0 inside strings itself, and outside them its
 * newlines are the layout. What is left can stand only inside strings, where `\uXXXX` is valid.
 */
const UNPRINTABLE_IN_JSON = new RegExp(`[${BEYOND_C0}]`, 'g');

/** JSON text with what a terminal would act on (DEL, C1, separators, bidi overrides) as `\uXXXX`. */
export function escapeUnprintable(json: string): string {
  return json.replace(UNPRINTABLE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A value as a terminal may show it: each character of UNPRINTABLE as a visible escape (`\x1b`,
 * `\u202e`). Table cells hold what callers sent (a denied scope, metadata, a path), and an agent
 * must not be able to write escape sequences to the operator's terminal through `audit list`.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * Renders rows as an aligned plain-text table with a header; empty → a "none" line. `minWidths`
 * keeps columns at least that wide, so tables printed one after another (`audit list --follow`)
 * line up under one header.
 */
export function formatTable<Row extends object>(
  rows: readonly Row[],
  columns: ReadonlyArray<keyof Row & string>,
  empty = '(none)',
  minWidths: Partial<Record<keyof Row & string, number>> = {},
): string {
  if (rows.length === 0) return empty;
  const cell = (value: unknown): string =>
    value === null || value === undefined ? '-' : printable(Array.isArray(value) ? value.join(',') : String(value));
  const cells = rows.map((row) => columns.map((column) => cell(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, minWidths[column] ?? 0, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

/** Prints formatTable's output. */
export function printTable<Row extends object>(
  out: CliOutput,
  rows: readonly Row[],
  columns: ReadonlyArray<keyof Row & string>,
  empty?: string,
): void {
  out.write(`${formatTable(rows, columns, empty)}\n`);
}

/** ISO time without milliseconds for human output. */
export { isoUtc as isoTime } from '../_utils/clock.js';
