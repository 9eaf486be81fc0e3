import { redact } from './redact.js';

/** Structured logger passed to every component; lines are JSON on stderr in the server. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** JSON-lines logger; every line passes through redact() so a stray secret never lands in logs. */
export function createLogger(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  const emit = (level: string, msg: string, fields?: Record<string, unknown>): void => {
    write(redact(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })));
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}
