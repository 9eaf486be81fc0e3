import { CreddyError } from '../errors.js';
import { parseDuration } from './duration.js';

/**
 * Reads one YAML mapping with key paths in every error. Each accessor marks its key as known;
 * `done()` then rejects whatever is left, so a typo (`max_tll`) fails loudly instead of being
 * silently ignored.
 */
export interface ConfigReader {
  readonly path: string;
  has(key: string): boolean;
  string(key: string): string;
  string(key: string, fallback: string): string;
  optionalString(key: string): string | undefined;
  integer(key: string, options?: { min?: number; max?: number }): number;
  optionalInteger(key: string, options?: { min?: number; max?: number }): number | undefined;
  boolean(key: string, fallback: boolean): boolean;
  duration(key: string, fallback?: number): number;
  optionalDuration(key: string): number | undefined;
  stringList(key: string, fallback?: string[]): string[];
  child(key: string): ConfigReader;
  optionalChild(key: string): ConfigReader | undefined;
  /** Entries of a mapping whose keys are user-chosen names (e.g. `backends`). */
  entries(key: string): Array<[string, ConfigReader]>;
  /** The keys of this mapping, in file order (for mappings whose keys are data, e.g. claim names). */
  keys(): string[];
  /** The raw value of `key` (marked as known), for values whose type depends on the key's meaning. */
  value(key: string): unknown;
  done(): void;
  fail(key: string, problem: string): never;
}

export function createReader(node: unknown, path: string): ConfigReader {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    throw new CreddyError('ERR_CONFIG_INVALID', `${path || '(root)'}: must be a mapping`);
  }
  const obj = node as Record<string, unknown>;
  const seen = new Set<string>();
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  const fail = (key: string, problem: string): never => {
    throw new CreddyError('ERR_CONFIG_INVALID', `${at(key)}: ${problem}`);
  };
  const get = (key: string): unknown => {
    seen.add(key);
    return obj[key];
  };
  const optionalString = (key: string): string | undefined => {
    const value = get(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number') return String(value);
    if (typeof value !== 'string' || value.length === 0) return fail(key, 'must be a non-empty string');
    return value;
  };
  const optionalInteger = (key: string, options: { min?: number; max?: number } = {}): number | undefined => {
    const raw = get(key);
    if (raw === undefined || raw === null) return undefined;
    const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return fail(key, 'must be an integer');
    if (options.min !== undefined && value < options.min) return fail(key, `must be at least ${options.min}`);
    if (options.max !== undefined && value > options.max) return fail(key, `must be at most ${options.max}`);
    return value;
  };
  const optionalDuration = (key: string): number | undefined => {
    const raw = get(key);
    if (raw === undefined || raw === null) return undefined;
    const seconds = parseDuration(raw);
    if (seconds === undefined) return fail(key, `invalid duration ${JSON.stringify(raw)} (use e.g. 90s, 15m, 1h, 30d or seconds)`);
    return seconds;
  };
  const optionalChild = (key: string): ConfigReader | undefined => {
    const value = get(key);
    return value === undefined || value === null ? undefined : createReader(value, at(key));
  };

  const reader: ConfigReader = {
    path,
    has: (key) => obj[key] !== undefined,
    string: ((key: string, fallback?: string) => {
      const value = optionalString(key);
      if (value !== undefined) return value;
      if (fallback !== undefined) return fallback;
      return fail(key, 'is required');
    }) as ConfigReader['string'],
    optionalString,
    integer: (key, options) => optionalInteger(key, options) ?? fail(key, 'is required'),
    optionalInteger,
    boolean: (key, fallback) => {
      const value = get(key);
      if (value === undefined || value === null) return fallback;
      if (typeof value !== 'boolean') return fail(key, 'must be true or false');
      return value;
    },
    duration: (key, fallback) => optionalDuration(key) ?? (fallback !== undefined ? fallback : fail(key, 'is required')),
    optionalDuration,
    stringList: (key, fallback) => {
      const value = get(key);
      if (value === undefined || value === null) {
        if (fallback !== undefined) return fallback;
        return fail(key, 'is required');
      }
      if (!Array.isArray(value)) return fail(key, 'must be a list of strings');
      return value.map((item, i) =>
        typeof item === 'string' && item.length > 0 ? item : fail(`${key}[${i}]`, 'must be a non-empty string'),
      );
    },
    child: (key) => optionalChild(key) ?? fail(key, 'is required'),
    optionalChild,
    entries: (key) => {
      const value = get(key);
      if (value === undefined || value === null) return [];
      const child = createReader(value, at(key));
      return Object.keys(value as object).map((name) => [name, child.child(name)]);
    },
    keys: () => Object.keys(obj),
    value: get,
    done: () => {
      const unknown = Object.keys(obj).filter((key) => !seen.has(key));
      if (unknown.length > 0) fail(unknown[0]!, 'unknown key');
    },
    fail,
  };
  return reader;
}
