import type { CliOutput } from './io.js';

/** Text styles used in help output. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  cyan(text: string): string;
}

const plain: Style = { bold: (t) => t, dim: (t) => t, cyan: (t) => t };
const ansi = (open: number, close: number) => (text: string) => `\u001B[${open}m${text}\u001B[${close}m`;
const coloured: Style = { bold: ansi(1, 22), dim: ansi(90, 39), cyan: ansi(36, 39) };

/**
 * Colour only for a person at a terminal: never into a pipe or a file, never with `NO_COLOR`
 * set to anything (no-color.org) or `TERM=dumb`; `FORCE_COLOR` (not `0`) asks for it anyway.
 */
export function colorEnabled(out: CliOutput, env: NodeJS.ProcessEnv): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return true;
  if (env['TERM'] === 'dumb') return false;
  return out.isTTY === true;
}

/** The style for text written to `out`. */
export const styleFor = (out: CliOutput, env: NodeJS.ProcessEnv): Style => (colorEnabled(out, env) ? coloured : plain);

// Built from a string: a control character in a regex literal is what the linter flags as a typo.
const ANSI_SEQUENCE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** Removes ANSI escape sequences (from a dependency's message) before it reaches a pipe. */
export const stripAnsi = (text: string): string => text.replace(ANSI_SEQUENCE, '');
