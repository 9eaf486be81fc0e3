import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/_utils/clock.js';
import { createLogger, type Logger } from '../../src/_utils/logger.js';

/**
 * Light test setup with no broker behind it (unit tests import it directly; ./harness.ts
 * re-exports it): temp dirs, keys, config YAML, loggers and a movable clock.
 */

/** A private temp dir removed by `cleanup()`. */
export function tempDir(prefix = 'creddy-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Fresh KEK and audit key, as an operator would set them (no dev-key files). */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    CREDDY_KEK: randomBytes(32).toString('hex'),
    CREDDY_AUDIT_KEY: randomBytes(32).toString('hex'),
    ...extra,
  };
}

/** The `demo` generic backend most tests use, as lines under `backends:`. */
export const DEMO_BACKEND = `  demo:
    type: generic
    audience: demo
    default_ttl: 15m
    max_ttl: 1h
    allowed_scopes: [read, write, "files:*"]
    default_scopes: [read]`;

/** A config on `dataDir`; `extra` adds top-level keys, `backendsYaml` replaces the demo backend. */
export function demoYaml(options: { dataDir: string; backendsYaml?: string; extra?: string }): string {
  return [
    'issuer: http://127.0.0.1:8400',
    'listen: 127.0.0.1:0',
    `data_dir: ${options.dataDir}`,
    options.extra ?? '',
    'backends:',
    options.backendsYaml ?? DEMO_BACKEND,
  ].join('\n');
}

/** A clock tests move forward; it runs with the wall clock in between. */
export interface TestClock extends Clock {
  advance(seconds: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (seconds) => void (offset += seconds * 1000) };
}

/** Captures log lines so tests can assert no secret ever reaches them. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger((line) => lines.push(line)), lines };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
