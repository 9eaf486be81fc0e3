import { parseDuration } from '../_utils/duration.js';
import { CreddyError } from '../errors.js';

/** `--since` / `--until`, shared by `audit list` and `audit export`. */
export const timeRangeArgs = {
  since: { type: 'string', description: 'From this time or this long ago (24h)', valueHint: 'WHEN' },
  until: { type: 'string', description: 'Up to this time or this long ago', valueHint: 'WHEN' },
} as const;

/** The range those flags name, in epoch ms; absent bounds are left out. */
export function timeRangeFromArgs(args: Record<string, unknown>, now: number): { since?: number; until?: number } {
  return {
    ...(typeof args['since'] === 'string' ? { since: parseTimeArg(args['since'], '--since', now) } : {}),
    ...(typeof args['until'] === 'string' ? { until: parseTimeArg(args['until'], '--until', now) } : {}),
  };
}

/** `--since 24h` (relative) or an ISO time; returns epoch ms. */
export function parseTimeArg(value: string, flag: string, now: number): number {
  const relative = parseDuration(value);
  if (relative !== undefined) return now - relative * 1000;
  const absolute = Date.parse(value);
  if (Number.isNaN(absolute))
    throw new CreddyError('ERR_USAGE', `${flag}: "${value}" is neither a duration (24h) nor a time (2026-01-15T16:00:00Z)`);
  return absolute;
}
