/**
 * Durations as operators write them: `90s`, `15m`, `1h`, `30d`, or a whole number of seconds.
 * Returns whole seconds, or `undefined` when the input is not a duration. Fractions, signs,
 * compound forms (`1h30m`) and exponent notation are rejected on purpose: a TTL that is hard to
 * read is a TTL nobody audits.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
const DURATION_RE = /^(\d{1,9})(s|m|h|d|w)?$/;

export function parseDuration(input: unknown): number | undefined {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  if (typeof input !== 'string') return undefined;
  const match = DURATION_RE.exec(input.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 's') as keyof typeof UNIT_SECONDS;
  return Number(match[1]) * UNIT_SECONDS[unit];
}

/** Formats seconds the way an operator would write them (`3600` → `1h`, `90` → `90s`). */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Seconds as a person reads a wait: `1h 3s`, `59m 58s`, `5s`. */
export function describeDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts = [
    [Math.floor(s / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, unit]) => `${n}${unit}`)
      .join(' ') || '0s'
  );
}
