import { redact } from './redact.js';

/** Structured logger passed to every component; lines are JSON on stderr in the server. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The least severe line a logger writes (config `log_level`). */
export type LogLevel = 'info' | 'warn' | 'error';

const SEVERITY: Record<LogLevel, number> = { info: 0, warn: 1, error: 2 };

/**
 * JSON-lines logger: one object per line (`time`, `level`, `msg`, then the fields, e.g.
 * `request_id`); every line passes through redact() so a stray secret never lands in logs.
 * Lines below `level` are dropped.
 */
export function createLogger(
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  options: { level?: LogLevel } = {},
): Logger {
  const threshold = SEVERITY[options.level ?? 'info'];
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (SEVERITY[level] < threshold) return;
    write(redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })));
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}
