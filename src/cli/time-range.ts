import { CreddyError } from '../errors.js';

/** What `--since` / `--until` accept, as help and errors name it. */
const FORMS =
  'a duration ago with its unit (30m, 24h, 7d), an RFC 3339 time with a zone (2026-01-15T16:00:00Z), or a date (2026-01-15, UTC midnight)';

/** `--since` / `--until`, shared by `audit list` and `audit export`. */
export const timeRangeArgs = {
  since: {
    type: 'string',
    description: 'From this time: a duration ago (24h), RFC 3339 with a zone (2026-01-15T16:00:00Z), or a date (2026-01-15, UTC)',
    valueHint: 'WHEN',
  },
  until: { type: 'string', description: 'Up to this time, inclusive (same forms as --since)', valueHint: 'WHEN' },
} as const;

/**
 * The range those flags name, in epoch ms; absent bounds are left out. A reversed range is a usage
 * error: it can match nothing, and an empty answer (or a signed empty bundle) would look like a
 * quiet log.
 */
export function timeRangeFromArgs(args: Record<string, unknown>, now: number): { since?: number; until?: number } {
  const since = typeof args['since'] === 'string' ? parseTimeArg(args['since'], '--since', now) : undefined;
  const until = typeof args['until'] === 'string' ? parseTimeArg(args['until'], '--until', now) : undefined;
  if (since !== undefined && until !== undefined && since > until)
    throw new CreddyError(
      'ERR_USAGE',
      `--since (${new Date(since).toISOString()}) is after --until (${new Date(until).toISOString()}): the range is empty`,
    );
  return { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const RELATIVE = /^(\d{1,9})([smhdw])$/;
// RFC 3339 `date-time` (seconds required, fraction optional, T or t) with its offset, or a full-date.
const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2})))?$/;

/**
 * `--since 24h` (that long before `now`), `2026-01-15T16:00:00Z` / `…+01:00`, or `2026-01-15`
 * (00:00 UTC); returns epoch ms. Nothing else: `Date.parse` reads legacy forms ("Dec 1" as 2001,
 * "2026-02-30" as March 2, a time without a zone as local time), and a bare number is not a
 * duration here (is "2026" a year or seconds?).
 */
export function parseTimeArg(value: string, flag: string, now: number): number {
  const invalid = (why: string): CreddyError => new CreddyError('ERR_USAGE', `${flag}: "${value}" ${why}; give ${FORMS}`);
  const relative = RELATIVE.exec(value);
  const ms = relative ? now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS] : absoluteTime(value, invalid);
  // Beyond ±100,000,000 days from 1970 no Date exists (999999999w ago, year 0000 minus an offset).
  if (Number.isNaN(new Date(ms).getTime())) throw invalid('is out of range');
  return ms;
}

function absoluteTime(value: string, invalid: (why: string) => CreddyError): number {
  const match = ABSOLUTE.exec(value);
  if (!match) {
    // The likeliest slip, named: a time of day read as the local zone would be off by hours.
    if (/^\d{4}-\d{2}-\d{2}[Tt ][\d:.]+$/.test(value)) throw invalid('has no zone (add Z for UTC, or an offset such as +01:00)');
    throw invalid('is not a time');
  }
  // A date alone is UTC midnight: its absent groups default to 00 and no offset.
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', , sign, offsetHour = '00', offsetMinute = '00'] =
    match;
  const n = (part: string | undefined): number => Number(part);
  if (n(month) < 1 || n(month) > 12 || n(day) < 1 || n(day) > daysInMonth(n(year), n(month))) throw invalid('is not a calendar date');
  if (n(hour) > 23 || n(minute) > 59 || n(second) > 59) throw invalid('is not a time of day');
  if (n(offsetHour) > 23 || n(offsetMinute) > 59) throw invalid('has an impossible zone offset');
  const utc = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  utc.setUTCFullYear(n(year), n(month) - 1, n(day));
  utc.setUTCHours(n(hour), n(minute), n(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset = (n(offsetHour) * 60 + n(offsetMinute)) * 60_000;
  return utc.getTime() - (sign === '-' ? -offset : offset);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
