import { CreddyError } from '../errors.js';
import { parseDuration } from './duration.js';

/**
 * The problems found in one config, collected rather than thrown one at a time: an operator who
 * copied the example should learn of every mistake in one run. One problem per key path (the
 * first wins: a missing `${env:X}` is the problem, not the string it left behind).
 */
export interface ConfigProblems {
  /** Records a problem at `path` unless that path already has one. */
  add(path: string, problem: string): void;
  /** Whether `path` already has a problem. */
  has(path: string): boolean;
  readonly list: ReadonlyArray<{ readonly path: string; readonly problem: string }>;
  /** Throws one ERR_CONFIG_INVALID listing every problem, if there are any. */
  throwIfAny(source: string): void;
}

/** Thrown by `fail` to leave the section that cannot go on; `guard` catches it. */
class ConfigAbort extends CreddyError {
  constructor(message: string) {
    super('ERR_CONFIG_INVALID', message);
  }
}

export function createProblems(): ConfigProblems {
  const list: Array<{ path: string; problem: string }> = [];
  const paths = new Set<string>();
  return {
    add(path, problem) {
      if (paths.has(path)) return;
      paths.add(path);
      list.push({ path, problem });
    },
    has: (path) => paths.has(path),
    list,
    throwIfAny(source) {
      if (list.length === 0) return;
      const lines = list.map(({ path, problem }) => `${path || '(root)'}: ${problem}`);
      const message = lines.length === 1 ? lines[0]! : `${lines.length} problems in ${source}:\n  ${lines.join('\n  ')}`;
      throw new CreddyError('ERR_CONFIG_INVALID', message, { details: { problems: list.map((p) => ({ ...p })) } });
    },
  };
}

/**
 * Reads one YAML mapping with key paths in every problem. Each accessor marks its key as known;
 * `done()` then reports whatever is left, so a typo (`max_tll`) fails loudly instead of being
 * silently ignored. Problems are collected in the shared `ConfigProblems`: an accessor with a
 * fallback records a bad value and returns the fallback so reading goes on; `fail` records and
 * leaves the current section (caught by `guard`); `report` records and goes on.
 */
export interface ConfigReader {
  readonly path: string;
  has(key: string): boolean;
  /** True when `key` already has a recorded problem (an unresolved reference, a bad value). */
  broken(key: string): boolean;
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
  /** Records a problem and leaves the section (see `guard`). */
  fail(key: string, problem: string): never;
  /** Records a problem and carries on. */
  report(key: string, problem: string): void;
  /** Runs one section; a `fail` inside it is already recorded, so it yields `fallback` instead. */
  guard<T>(fn: () => T, fallback: T): T;
}

/** Whether `err` is a `fail` whose problem is already recorded. */
export const isConfigAbort = (err: unknown): boolean => err instanceof ConfigAbort;

export function createReader(node: unknown, path: string, problems: ConfigProblems = createProblems()): ConfigReader {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    problems.add(path, 'must be a mapping');
    throw new ConfigAbort(`${path || '(root)'}: must be a mapping`);
  }
  const obj = node as Record<string, unknown>;
  const seen = new Set<string>();
  const at = (key: string): string => (path ? (key ? `${path}.${key}` : path) : key);
  const report = (key: string, problem: string): void => problems.add(at(key), problem);
  const fail = (key: string, problem: string): never => {
    report(key, problem);
    throw new ConfigAbort(`${at(key)}: ${problem}`);
  };
  /** A bad value of a key that has a fallback: recorded, and reading goes on with the fallback. */
  const bad = <T>(key: string, problem: string, fallback: T): T => {
    report(key, problem);
    return fallback;
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
    if (options.min !== undefined && value < options.min) return bad(key, `must be at least ${options.min}`, options.min);
    if (options.max !== undefined && value > options.max) return bad(key, `must be at most ${options.max}`, options.max);
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
    return value === undefined || value === null ? undefined : createReader(value, at(key), problems);
  };
  const guard = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      if (isConfigAbort(err)) return fallback;
      throw err;
    }
  };

  const reader: ConfigReader = {
    path,
    has: (key) => obj[key] !== undefined,
    broken: (key) => problems.has(at(key)),
    string: ((key: string, fallback?: string) => {
      if (fallback !== undefined) return guard(() => optionalString(key), undefined) ?? fallback;
      return optionalString(key) ?? fail(key, 'is required');
    }) as ConfigReader['string'],
    optionalString,
    integer: (key, options) => optionalInteger(key, options) ?? fail(key, 'is required'),
    optionalInteger,
    boolean: (key, fallback) => {
      const value = get(key);
      if (value === undefined || value === null) return fallback;
      if (typeof value !== 'boolean') return bad(key, 'must be true or false', fallback);
      return value;
    },
    duration: (key, fallback) => {
      if (fallback === undefined) return optionalDuration(key) ?? fail(key, 'is required');
      return guard(() => optionalDuration(key), undefined) ?? fallback;
    },
    optionalDuration,
    stringList: (key, fallback) => {
      const value = get(key);
      if (value === undefined || value === null) {
        if (fallback !== undefined) return fallback;
        return fail(key, 'is required');
      }
      if (!Array.isArray(value)) return fail(key, 'must be a list of strings');
      const items: string[] = [];
      value.forEach((item, i) => {
        if (typeof item === 'string' && item.length > 0) items.push(item);
        else report(`${key}[${i}]`, 'must be a non-empty string');
      });
      return items;
    },
    child: (key) => optionalChild(key) ?? fail(key, 'is required'),
    optionalChild,
    entries: (key) => {
      const value = get(key);
      if (value === undefined || value === null) return [];
      const child = createReader(value, at(key), problems);
      return Object.keys(value as object).flatMap((name) =>
        child.guard((): Array<[string, ConfigReader]> => [[name, child.child(name)]], []),
      );
    },
    keys: () => Object.keys(obj),
    value: get,
    done: () => {
      for (const key of Object.keys(obj)) if (!seen.has(key)) report(key, 'unknown key');
    },
    fail,
    report,
    guard,
  };
  return reader;
}
