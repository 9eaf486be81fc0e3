import { type Clock, nowSeconds, systemClock } from './_utils/clock.js';
import type { Logger } from './_utils/logger.js';
import type { Checkpointer } from './audit/checkpoint.js';
import { loadAuditKey, loadAuditKeys } from './audit/key.js';
import { createAuditLog } from './audit/setup.js';
import { createStateGuard, type StateGuard } from './audit/state-guard.js';
import { assertExtendsWitness } from './audit/verify-witness.js';
import type { AuditWriter } from './audit/writer.js';
import { backendTypes } from './backends/registry.js';
import type { Backend } from './backends/types.js';
import type { Config } from './config/types.js';
import { CreddyError } from './errors.js';
import { type KekSet, loadKeks } from './keys/kek.js';
import { createKeyring, type Keyring } from './keys/keyring.js';
import { signingKeyFacts } from './keys/timing.js';
import { type Metrics, noMetrics, type UpstreamStatus } from './metrics/port.js';
import { dueSecretCounter } from './secrets/list.js';
import { createSecretSource } from './secrets/read.js';
import { openStore } from './store/open-store.js';
import type { AuditSealer, Store } from './store/port.js';

/** Everything the broker and the operator CLI work with, built once from config. */
export interface Services {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly store: Store;
  readonly keks: KekSet;
  readonly keyring: Keyring;
  readonly audit: AuditWriter;
  /** Seals audit rows written outside the writer: key transitions commit with their rows. */
  readonly auditSeal: AuditSealer;
  /** The server's check of access-deciding rows against the audit log; undefined in CLI processes. */
  readonly stateGuard: StateGuard | undefined;
  /** Signed audit checkpoints; the server starts its timer, stop() writes the last one. */
  readonly auditCheckpoints: Checkpointer;
  readonly backends: ReadonlyMap<string, Backend>;
  /** What the broker counts and times; `noMetrics` unless the server passed its own. */
  readonly metrics: Metrics;
  close(): Promise<void>;
}

export interface ServiceOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly clock?: Clock;
  readonly logger: Logger;
  /** Who acts in audit rows written by this process: `server` or `cli`. */
  readonly actor: 'server' | 'cli';
  /** Provide a store (tests); by default the configured one is opened. */
  readonly store?: Store;
  /** The server's metrics (metrics/prometheus.ts); none by default. */
  readonly metrics?: Metrics;
}

/**
 * The composition root: opens the store, loads the KEK and audit key, builds backends and the
 * keyring. Nothing here runs at import time; the server and the CLI both call it.
 */
export async function createServices(config: Config, options: ServiceOptions): Promise<Services> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const { logger } = options;
  const metrics = options.metrics ?? noMetrics;
  // A server waits for its store no longer than a request may wait for its audit row: a statement
  // unanswered after write_timeout is abandoned and its connection closed (a host gone without a
  // reset would otherwise hold it for the OS's TCP timeouts). Operator commands, which may read
  // long on purpose, keep the store's default: only a silent connection ends them.
  const isServer = options.actor === 'server';
  const store =
    options.store ??
    (await openStore(config.store, {
      auditOffThread: isServer,
      durable: durableAudit(env, logger),
      ...(isServer ? { deadlineMs: config.audit.writeTimeout * 1000 } : {}),
    }));
  try {
    // The server warns about dev keys at every start; repeating it on each CLI call is noise.
    const warnDev = options.actor === 'server';
    const keks = loadKeks({ env, dataDir: config.dataDir, logger, warnDev });
    const auditKey = loadAuditKey({ env, dataDir: config.dataDir, logger, warnDev });
    const {
      writer: audit,
      checkpoints: auditCheckpoints,
      seal: auditSeal,
    } = createAuditLog({
      store,
      keks,
      key: auditKey,
      config: config.audit,
      now: () => clock.now(),
      logger,
      actor: options.actor,
      metrics,
    });
    // The server refuses agent, key and secret rows that disagree with the audit log (edited or rolled back).
    const stateGuard =
      options.actor === 'server' ? createStateGuard({ store, keys: loadAuditKeys({ env, dataDir: config.dataDir }), logger }) : undefined;
    const backends = new Map<string, Backend>();
    const secrets = createSecretSource({ store, keks, guard: stateGuard, logger });
    for (const [name, { common, settings }] of config.backends) {
      const instruments = metrics.backend(name);
      const upstream = (status: UpstreamStatus): void => instruments.upstream(status);
      const backend = backendTypes[common.type].create(settings as never, common, { clock, logger, secrets, upstream });
      // A backend floor above max_ttl (STS sessions last ≥ 900 s) would silently outlive the
      // operator's bound: refuse the config instead of ever granting more than max_ttl.
      const floor = backend.ttlLimits.min;
      if (floor && floor.seconds > common.maxTtl) {
        throw new CreddyError(
          'ERR_CONFIG_INVALID',
          `backends.${name}.max_ttl: must be at least ${floor.seconds}s for type ${common.type} (${floor.reason})`,
        );
      }
      backends.set(name, backend);
    }
    const keyring = createKeyring({
      store,
      keks,
      clock,
      logger,
      config: config.keys,
      actor: options.actor,
      auditSeal,
      ...(stateGuard ? { vet: (load) => stateGuard.vetKeys(load) } : {}),
    });
    // A server refuses a log that no longer holds the latest witnessed checkpoint (rollback).
    if (options.actor === 'server') await assertExtendsWitness(store, config.audit.witness, keks, logger);
    // State rows sealed by an audit key missing from the configuration are not trusted. When that
    // leaves no signing key (an operator left out a previous key: every key row was recorded
    // under it), the server does not start, and says which key to configure. Otherwise it starts
    // and says so loudly: one row anyone with INSERT on the log can write must not stop every
    // replica's next start, and the agents or keys only such rows vouch for are refused anyway.
    const unconfigured = await stateGuard?.unconfiguredKeys();
    try {
      await keyring.init();
    } catch (err) {
      if (unconfigured) throw new CreddyError(unconfigured.code, unconfigured.message, { cause: err, details: unconfigured.details ?? {} });
      throw err;
    }
    if (unconfigured) logger.error(`audit key not configured: ${unconfigured.message}`, { ...unconfigured.details });
    const dueSecrets = dueSecretCounter({ store, keks, clock, auditSeal, config });
    metrics.collectFrom({
      auditQueueDepth: () => audit.depth(),
      signingKeys: () => signingKeyFacts(keyring.records(), config.keys, nowSeconds(clock), keyring.unopenable().length),
      ...(dueSecrets ? { dueSecrets } : {}),
    });
    return {
      config,
      clock,
      logger,
      store,
      stateGuard,
      keks,
      keyring,
      audit,
      auditSeal,
      auditCheckpoints,
      backends,
      metrics,
      async close() {
        await audit.flush();
        // Backends holding connections (postgres admin pools) let go before the store does.
        await Promise.all([...backends.values()].map((b) => b.close?.().catch(() => {})));
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** `CREDDY_AUDIT_SYNC=off` turns off fsync: benchmarks only (bench/audit.mjs measures what durability costs). */
function durableAudit(env: NodeJS.ProcessEnv, logger: Logger): boolean {
  if (env['CREDDY_AUDIT_SYNC'] !== 'off') return true;
  logger.warn('INSECURE: CREDDY_AUDIT_SYNC=off: audit rows are not fsynced; benchmarks only');
  return false;
}
