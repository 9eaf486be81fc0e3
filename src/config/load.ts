import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument, YAMLError } from 'yaml';
import { type ConfigReader, createProblems, createReader } from '../_utils/config-reader.js';
import { checkAudiences, parseBackend } from '../backends/config.js';
import type { BackendConfig } from '../backends/types.js';
import { CreddyError } from '../errors.js';
import { NO_FEDERATION, parseFederation } from './federation.js';
import { AGENT_DEFAULTS, parseAgents, parseLogLevel } from './operator.js';
import { resolveTree } from './refs.js';
import { parseStore } from './store.js';
import type { AuditConfig, AuthThrottleConfig, Config, HttpLimitsConfig, KeysConfig, MetricsListen } from './types.js';

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
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    // The message carries the fix that fits the errno; `details.errno` tells callers it does.
    throw new CreddyError('ERR_CONFIG_INVALID', `cannot read config ${path}: ${unreadable(err as NodeJS.ErrnoException)}`, {
      details: { errno },
    });
  }
  return parseConfig(text, path, env);
}

/**
 * Why a config file could not be read, with the fix that fits: a missing file wants `creddy
 * init`, a file this user may not read (`creddy init` writes it 0600 for whoever ran it) wants
 * its owner or mode changed, not a new one. Exported for its test: root reads any file, so the
 * test cannot always make the OS refuse one.
 */
export function unreadable(err: NodeJS.ErrnoException): string {
  const code = err.code ?? 'error';
  switch (code) {
    case 'ENOENT':
      return 'ENOENT, no such file (run `creddy init` to create one, or point --config / CREDDY_CONFIG at it)';
    case 'EACCES':
    case 'EPERM': {
      const uid = process.getuid?.();
      const who = uid === undefined ? 'this process' : `uid ${uid}`;
      return `${code}, permission denied: make it readable by the user the server runs as (${who}; in the Docker image uid 10001, e.g. \`sudo chown 10001 FILE\`)`;
    }
    case 'EISDIR':
      return 'EISDIR, a directory (--config / CREDDY_CONFIG names the YAML file itself)';
    default:
      return code;
  }
}

/**
 * Validates config text; `source` anchors relative paths (data_dir) and messages. Every problem
 * is reported at once. Text that comes from no file (`CREDDY_CONFIG_YAML`) names itself as
 * `source` and gives the directory relative paths start from as `base`.
 */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env, options: { base?: string } = {}): Config {
  let raw: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    // A warning (an unknown tag such as `!secret`) is refused too: the value would load as
    // something the operator did not write.
    const found = [...doc.errors, ...doc.warnings];
    if (found.length > 0) {
      const where = found.map((e) => e.message.split('\n')[0]!.replace(/:$/, ''));
      throw new CreddyError('ERR_CONFIG_INVALID', `${source}: ${where.join('; ')}`);
    }
    raw = doc.toJS();
  } catch (err) {
    if (err instanceof CreddyError) throw err;
    const where = err instanceof YAMLError ? err.message.split('\n')[0]!.replace(/:$/, '') : 'unparsable YAML';
    throw new CreddyError('ERR_CONFIG_INVALID', `${source}: ${where}`);
  }
  const problems = createProblems();
  const tree = resolveTree(raw ?? {}, '', env, problems);
  let root: ConfigReader;
  try {
    root = createReader(tree, '', problems);
  } catch {
    return problems.throwIfAny(source) as never;
  }
  const base = options.base ?? dirname(resolve(source));
  const config = readConfig(root, base, options.base === undefined ? resolve(source) : source);
  problems.throwIfAny(source);
  return config;
}

/** Reads every top-level key; each section records its problems and the next one still runs. */
function readConfig(root: ConfigReader, base: string, source: string): Config {
  const issuer = root.string('issuer', 'http://127.0.0.1:8400');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(issuer) || issuer.endsWith('/')) {
    root.report('issuer', 'must be an http(s) URL without a trailing slash');
  }
  const listen = root.guard(() => parseListen(root.string('listen', '127.0.0.1:8400'), root.fail), { host: '127.0.0.1', port: 8400 });
  const metricsListen = root.guard(() => parseMetricsListen(root, listen), { kind: 'main' } as const);
  const dataDir = resolve(base, root.string('data_dir', './data'));
  const sqlite: Config['store'] = { kind: 'sqlite', path: resolve(dataDir, 'creddy.db') };
  const store = root.guard((): Config['store'] => parseStore(root, dataDir), sqlite);

  const keys = root.guard(() => parseKeys(root), KEY_DEFAULTS);
  const audit = root.guard(() => parseAudit(root.optionalChild('audit'), base), AUDIT_DEFAULTS);
  const backendEntries = root.entries('backends');
  const backends = new Map(
    backendEntries.flatMap(([name, reader]) =>
      reader.guard((): Array<[string, BackendConfig]> => [[name, parseBackend(name, reader)]], []),
    ),
  );
  checkAudiences(backendEntries, backends);
  const authThrottle = root.guard(() => parseAuthThrottle(root.optionalChild('auth_throttle')), parseAuthThrottle(undefined));
  const http = root.guard(() => parseHttp(root.optionalChild('http')), parseHttp(undefined));
  const federation = root.guard(() => parseFederation(root.entries('federation'), { issuer, baseDir: base, backends }), NO_FEDERATION);
  const agents = root.guard(() => parseAgents(root.optionalChild('agents')), AGENT_DEFAULTS);
  const logLevel = root.guard(() => parseLogLevel(root), 'info' as const);
  root.done();
  return Object.freeze<Config>({
    source,
    issuer,
    listen,
    metricsListen,
    dataDir,
    store,
    keys,
    audit,
    authThrottle,
    http,
    backends,
    federation,
    agents,
    logLevel,
  });
}

function parseKeys(root: ConfigReader): KeysConfig {
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
    (keysReader ?? root).report('jwks_max_age', 'must not exceed publish_ahead (verifiers would miss the next key)');
  }
  if (keys.rotationPeriod <= keys.publishAhead && keysReader) keysReader.report('rotation_period', 'must exceed publish_ahead');
  return keys;
}

const AUDIT_DEFAULTS: AuditConfig = {
  writeTimeout: 2,
  checkpointEvery: 1000,
  checkpointInterval: 60,
  retention: null,
  witness: { file: null, url: null },
};

function parseAudit(auditReader: ConfigReader | undefined, base: string): AuditConfig {
  const audit: AuditConfig = {
    writeTimeout: auditReader?.duration('write_timeout', 2) ?? 2,
    checkpointEvery: auditReader?.optionalInteger('checkpoint_every', { min: 1, max: 10_000_000 }) ?? 1000,
    checkpointInterval: auditReader?.duration('checkpoint_interval', 60) ?? 60,
    retention: auditReader?.guard(() => auditReader.optionalDuration('retention'), undefined) ?? null,
    witness:
      auditReader?.guard(() => parseWitness(auditReader.optionalChild('witness'), base), AUDIT_DEFAULTS.witness) ?? AUDIT_DEFAULTS.witness,
  };
  auditReader?.done();
  if (audit.writeTimeout < 1) auditReader?.report('write_timeout', 'must be at least 1s');
  // A retired key stays published ≥ 30 s past retirement (keys/timing.ts); a token signed just
  // before retiring is recorded within write_timeout, which must therefore stay well inside that.
  if (audit.writeTimeout > 10) auditReader?.report('write_timeout', 'must be at most 10s');
  if (audit.checkpointInterval < 1) auditReader?.report('checkpoint_interval', 'must be at least 1s');
  if (audit.retention !== null && audit.retention < 60) auditReader?.report('retention', 'must be at least 1m (e.g. 365d)');
  return audit;
}

function parseListen(value: string, fail: (key: string, problem: string) => never): Config['listen'] {
  return hostPort(value) ?? fail('listen', 'must be HOST:PORT, e.g. 127.0.0.1:8400');
}

function hostPort(value: string): Config['listen'] | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  return match && port <= 65_535 ? { host: match[1]!.replace(/^\[|\]$/g, ''), port } : undefined;
}

/** `metrics_listen`: absent (on the main port), `off` (or false), or a HOST:PORT other than `listen`'s. */
function parseMetricsListen(root: ConfigReader, listen: Config['listen']): MetricsListen {
  if (root.value('metrics_listen') === false) return { kind: 'off' };
  const value = root.optionalString('metrics_listen');
  if (value === undefined) return { kind: 'main' };
  if (value === 'off') return { kind: 'off' };
  const own = hostPort(value) ?? root.fail('metrics_listen', 'must be HOST:PORT (e.g. 127.0.0.1:9464) or off');
  if (own.port !== 0 && own.port === listen.port && own.host === listen.host) {
    root.fail('metrics_listen', `must differ from listen (${value}); leave it out to serve /metrics on the main port`);
  }
  return { kind: 'own', ...own };
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
  if (config.window < 1) reader?.report('window', 'must be at least 1s');
  if (config.block < 1) reader?.report('block', 'must be at least 1s');
  if (config.block > 86_400) reader?.report('block', 'must be at most 1d');
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
    reader.report('url', 'must be an https URL (plain http only on a loopback address)');
  }
  if (file === undefined && url === undefined) reader.report('file', 'name a file, a url, or both');
  return { file: file === undefined ? null : resolve(base, file), url: url ?? null };
}

/**
 * `http`: timeouts and connection caps of the listening server. The defaults keep a slow or
 * greedy client from holding sockets (a request must arrive within 30 s, its headers within
 * 10 s) and let keep-alive outlast a load balancer's usual 60 s idle timeout.
 */
function parseHttp(reader: ConfigReader | undefined): HttpLimitsConfig {
  const limits: HttpLimitsConfig = {
    headerTimeout: reader?.duration('header_timeout', 10) ?? 10,
    requestTimeout: reader?.duration('request_timeout', 30) ?? 30,
    idleTimeout: reader?.duration('idle_timeout', 65) ?? 65,
    maxConnections: reader?.optionalInteger('max_connections', { min: 1, max: 1_000_000 }) ?? 10_000,
    maxConnectionsPerAddress: reader?.optionalInteger('max_connections_per_address', { min: 1, max: 1_000_000 }) ?? 256,
  };
  reader?.done();
  if (limits.headerTimeout < 1) reader?.report('header_timeout', 'must be at least 1s');
  if (limits.requestTimeout < limits.headerTimeout) reader?.report('request_timeout', 'must be at least header_timeout');
  if (limits.idleTimeout < 1) reader?.report('idle_timeout', 'must be at least 1s');
  return limits;
}
