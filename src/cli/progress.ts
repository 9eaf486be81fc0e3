import type { CliContext, CliOutput } from './io.js';

/** Work shorter than this shows no progress at all. */
const SHOW_AFTER_MS = 1000;
/** The line is rewritten at most this often. */
const REDRAW_MS = 200;

export interface ProgressLine {
  /** Offers the current state; `text` is called only when the line is redrawn. */
  update(text: () => string): void;
  /** Erases the line (call it before printing the result or an error). */
  done(): void;
}

/**
 * One progress line on a terminal for long work (an export, a bundle verification), rewritten in
 * place: shown once the work has taken a second, redrawn at most five times a second, erased at
 * the end. Off a terminal it prints nothing, so logs and pipes get only the final summary.
 */
export function progressLine(out: CliOutput, now: () => number = Date.now): ProgressLine {
  if (out.isTTY !== true) return { update: () => {}, done: () => {} };
  const start = now();
  let drawnAt: number | undefined;
  return {
    update(text) {
      const t = now();
      if (t - start < SHOW_AFTER_MS || (drawnAt !== undefined && t - drawnAt < REDRAW_MS)) return;
      drawnAt = t;
      out.write(`\r\u001B[K${text()}`);
    },
    done() {
      if (drawnAt !== undefined) out.write('\r\u001B[K');
      drawnAt = undefined;
    },
  };
}

/** The progress line of a command: on its stderr, timed by its clock (a test's, or the system's). */
export function progressOf(ctx: CliContext): ProgressLine {
  const clock = ctx.hooks.clock;
  return progressLine(ctx.stderr, clock ? () => clock.now() : Date.now);
}

/** `123,456 of 1,000,000 events (12%)`. */
export function countOf(done: number, total: number, what: string): string {
  const percent = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : '';
  return `${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} ${what}${percent}`;
}
