import type { ConfigReader } from '../_utils/config-reader.js';
import { parseDuration } from '../_utils/duration.js';
import type { LogLevel } from '../_utils/logger.js';
import type { AgentsConfig } from './types.js';

/** Agents expire after 90 days unless the config or `--expires never` says otherwise. */
export const DEFAULT_AGENT_TTL = 90 * 86_400;

export const AGENT_DEFAULTS: AgentsConfig = { defaultTtl: DEFAULT_AGENT_TTL };

/** `agents.default_ttl`: a duration of at least 1m, or `never`. */
export function parseAgents(reader: ConfigReader | undefined): AgentsConfig {
  if (!reader) return AGENT_DEFAULTS;
  const raw = reader.optionalString('default_ttl');
  reader.done();
  if (raw === undefined) return AGENT_DEFAULTS;
  if (raw === 'never') return { defaultTtl: null };
  const seconds = parseDuration(raw);
  if (seconds === undefined || seconds < 60) {
    reader.report('default_ttl', `must be a duration of at least 1m (e.g. 90d) or "never", got ${JSON.stringify(raw)}`);
    return AGENT_DEFAULTS;
  }
  return { defaultTtl: seconds };
}

export const LOG_LEVELS: readonly LogLevel[] = ['info', 'warn', 'error'];

/** `log_level`: the least severe server log line written (default info). */
export function parseLogLevel(root: ConfigReader): LogLevel {
  const value = root.string('log_level', 'info');
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  root.report('log_level', `must be one of ${LOG_LEVELS.join(', ')}`);
  return 'info';
}
