import type { CliOutput } from './io.js';

/** `1:02:03`, `2:03`: what is left, as a terminal countdown shows it. */
export function clockFormat(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** How often a non-terminal (a log, CI) gets a line while waiting. */
export const LINE_EVERY_MS = 60_000;

/**
 * Waits until `untilMs` on `now`'s clock, saying so on `out`: on a terminal one line rewritten
 * every second (a live countdown), elsewhere a line when it starts and then one a minute, so a
 * log shows progress without a line per second.
 */
export async function countdown(out: CliOutput, untilMs: number, now: () => number, what: (left: string) => string): Promise<void> {
  const tty = out.isTTY === true;
  let nextLine = 0;
  for (;;) {
    const left = untilMs - now();
    if (left <= 0) break;
    if (tty) out.write(`\r\u001B[K${what(clockFormat(left / 1000))}`);
    else if (now() >= nextLine) {
      out.write(`${what(clockFormat(left / 1000))}\n`);
      nextLine = now() + LINE_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, tty ? 1000 : Math.max(1, nextLine - now()))));
  }
  if (tty) out.write('\r\u001B[K');
}
