import type { CliOutput } from './io.js';

/** Prints a value as pretty JSON (the `--json` form of every read command). */
export function printJson(out: CliOutput, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Renders rows as an aligned plain-text table with a header; empty → a "none" line. */
export function formatTable<Row extends object>(
  rows: readonly Row[],
  columns: ReadonlyArray<keyof Row & string>,
  empty = '(none)',
): string {
  if (rows.length === 0) return empty;
  const cell = (value: unknown): string =>
    value === null || value === undefined ? '-' : Array.isArray(value) ? value.join(',') : String(value);
  const cells = rows.map((row) => columns.map((column) => cell(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((r) => r[i]!.length)));
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
