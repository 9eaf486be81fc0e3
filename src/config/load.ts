import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument, YAMLError } from 'yaml';
import type { ConfigReader } from '../_utils/config-reader.js';
import { createReader } from '../_utils/config-reader.js';
import { parseBackend } from '../backends/config.js';
import { CreddyError } from '../errors.js';
import { parseFederation } from './federation.js';
import { resolveTree } from './refs.js';
import { parseStore } from './store.js';
import type { AuditConfig, AuthThrottleConfig, Config, KeysConfig } from './types.js';

/** Defaults of the key schedule: rotate monthly, publish an hour ahead, verifiers cache 5 min. */
export const KEY_DEFAULTS: KeysConfig = { rotationPeriod: 30 * 86_400, publishAhead: 3600, jwksMaxAge: 300, clockSkew: 60 };

/** The config path: `--config`, else `CREDDY_CONFIG`, else `./creddy.yaml`, relative to `cwd`. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? env['CREDDY_CONFIG'] ?? 'creddy.yaml');
}

/** Reads, resolves and validates a config file. Throws ERR_CONFIG_INVALID naming the key path. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (run `creddy init` to create one)' : '';
    throw new CreddyError('ERR_CONFIG_INVALID', `cannot read config ${path}${hint}`);
  }
  return parseConfig(text, path, env);
}

/** Validates config text; `source` anchors relative paths (data_dir) and messages. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    // A warning (an unknown tag such as `!secret`) is refused too: the value would load as
    // something the operator did not write.
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw problem;
    raw = doc.toJS();
  } catch (err) {
    const where = err instanceof YAMLError ? err.message.split('\n')[0]!.replace(/:$/, '') : 'unparsable YAML';
    throw new CreddyError('ERR_CONFIG_INVALID', `${source}: ${where}`);
  }
  const root = createReader(resolveTree(raw ?? {}, '', env), '');
  const base = dirname(resolve(source));

  const issuer = root.string('issuer', 'http://127.0.0.1:8400');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(issuer) || issuer.endsWith('/')) {
    root.fail('issuer', 'must be an http(s) URL without a trailing slash');
  }
  const listen = parseListen(root.string('listen', '127.0.0.1:8400'), root.fail);
  const dataDir = resolve(base, root.string('data_dir', './data'));
  const store = parseStore(root, dataDir);

  const keysReader = root.optionalChild('keys');
  const keys: KeysConfig = keysReader
    ? {
        rotationPeriod: keysReader.duration('rotation_period', KEY_DEFAULTS.rotationPeriod),
        publishAhead: keysReader.duration('publish_ahead', KEY_DEFAULTS.publishAhead),
        jwksMaxAge: keysReader.duration('jwks_max_age', KEY_DEFAULTS.jwksMaxAge),
        clockSkew: keysReader.duration('clock_skew', KEY_DEFAULTS.clockSkew),
      }
    : KEY_DEFAULTS;
  keysReader?.done();
  if (keys.jwksMaxAge > keys.publishAhead) {
    (keysReader ?? root).fail('jwks_max_age', 'must not exceed publish_ahead (verifiers would miss the next key)');
  }
  if (keys.rotationPeriod <= keys.publishAhead && keysReader) keysReader.fail('rotation_period', 'must exceed publish_ahead');

  const auditReader = root.optionalChild('audit');
  const audit: AuditConfig = {
    writeTimeout: auditReader?.duration('write_timeout', 2) ?? 2,
    checkpointEvery: auditReader?.optionalInteger('checkpoint_every', { min: 1, max: 10_000_000 }) ?? 1000,
    checkpointInterval: auditReader?.duration('checkpoint_interval', 60) ?? 60,
    retention: auditReader?.optionalDuration('retention') ?? null,
    witness: parseWitness(auditReader?.optionalChild('witness'), base),
  };
  auditReader?.done();
  if (audit.writeTimeout < 1) auditReader?.fail('write_timeout', 'must be at least 1s');
  // A retired key stays published ≥ 30 s past retirement (keys/timing.ts); a token signed just
  // before retiring is recorded within write_timeout, which must therefore stay well inside that.
  if (audit.writeTimeout > 10) auditReader?.fail('write_timeout', 'must be at most 10s');
  if (audit.checkpointInterval < 1) auditReader?.fail('checkpoint_interval', 'must be at least 1s');
  if (audit.retention !== null && audit.retention < 60) auditReader?.fail('retention', 'must be at least 1m (e.g. 365d)');

  const backends = new Map(root.entries('backends').map(([name, reader]) => [name, parseBackend(name, reader)] as const));
  const federation = parseFederation(root.entries('federation'), { issuer, baseDir: base, backends });
  const authThrottle = parseAuthThrottle(root.optionalChild('auth_throttle'));
  root.done();
  return Object.freeze({ source: resolve(source), issuer, listen, dataDir, store, keys, audit, authThrottle, backends, federation });
}

function parseListen(value: string, fail: (key: string, problem: string) => never): Config['listen'] {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) fail('listen', 'must be HOST:PORT, e.g. 127.0.0.1:8400');
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** `auth_throttle`: failed authentications per client address before 429s (see broker/throttle.ts). */
function parseAuthThrottle(reader: ConfigReader | undefined): AuthThrottleConfig {
  const config: AuthThrottleConfig = {
    maxFailures: reader?.optionalInteger('max_failures', { min: 1, max: 1_000_000 }) ?? 10,
    window: reader?.duration('window', 60) ?? 60,
    block: reader?.duration('block', 300) ?? 300,
    maxAuditedPerWindow: reader?.optionalInteger('max_audited_per_window', { min: 1, max: 10_000_000 }) ?? 600,
  };
  reader?.done();
  if (config.window < 1) reader?.fail('window', 'must be at least 1s');
  if (config.block < 1) reader?.fail('block', 'must be at least 1s');
  if (config.block > 86_400) reader?.fail('block', 'must be at most 1d');
  return config;
}

/**
 * `audit.witness`: where signed checkpoints also go. The file path is resolved like data_dir;
 * the URL must be https, or http on a loopback address (tests, a local sidecar).
 */
function parseWitness(reader: ConfigReader | undefined, base: string): AuditConfig['witness'] {
  if (!reader) return { file: null, url: null };
  const file = reader.optionalString('file');
  const url = reader.optionalString('url');
  reader.done();
  if (url !== undefined && !/^https:\/\/[^\s/]+/.test(url) && !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/.test(url)) {
    reader.fail('url', 'must be an https URL (plain http only on a loopback address)');
  }
  if (file === undefined && url === undefined) reader.fail('file', 'name a file, a url, or both');
  return { file: file === undefined ? null : resolve(base, file), url: url ?? null };
}
