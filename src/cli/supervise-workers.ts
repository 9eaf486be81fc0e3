import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../_utils/logger.js';
import { CreddyError } from '../errors.js';
import { DRAIN_DEADLINE_MS } from '../http/drain.js';

/*
 * The primary of `creddy server --workers N` (see workers.ts): forks the workers, restarts those
 * that crash, forwards SIGTERM/SIGINT so that all of them drain, and logs JSON like the workers.
 */

/** First restart delay after a crash; doubles with every crash in the window. */
export const RESTART_BASE_MS = 250;
/** Longest restart delay. */
export const RESTART_MAX_MS = 10_000;
/** Crashes are counted over this sliding window… */
export const CRASH_WINDOW_MS = 60_000;
/** …and this many in it means the workers keep crashing: the primary stops them all and fails. */
export const MAX_CRASHES = 5;
/** A worker still alive this long after SIGTERM is killed (its own drain deadline is 10 s). */
export const STOP_DEADLINE_MS = DRAIN_DEADLINE_MS + 20_000;

export interface SupervisorOptions {
  readonly count: number;
  /** What each worker runs: `server` and the primary's own server flags. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The workers' environment (the process's own unless a test injects one). */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  /** Told where the workers listen, once all of them do. */
  onListening(url: string): void;
}

/** The built bin: workers run it, whatever started the primary. */
const BIN = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * Runs the primary: forks `count` workers and supervises them until SIGTERM/SIGINT, which it
 * forwards as SIGTERM so every worker drains. A worker that exits while serving is restarted
 * after a backoff (250 ms doubling to 10 s); MAX_CRASHES within CRASH_WINDOW_MS, or any worker
 * failing before all have first listened (a broken port or database: restarting cannot help),
 * stops the rest and rejects. Resolves once every worker has stopped cleanly.
 */
export function superviseWorkers(options: SupervisorOptions): Promise<void> {
  const { count, logger } = options;
  cluster.setupPrimary({ exec: BIN, args: [...options.argv], cwd: options.cwd, silent: false });
  const live = new Set<Worker>();
  const listening = new Set<number>();
  const crashes: number[] = [];
  const restarts = new Set<NodeJS.Timeout>();
  let phase: 'starting' | 'serving' | 'stopping' = 'starting';
  let failure: CreddyError | undefined;
  let unclean = 0;
  let deadline: NodeJS.Timeout | undefined;

  return new Promise<void>((resolve, reject) => {
    const fork = (): void => {
      const worker = cluster.fork(options.env === process.env ? undefined : options.env);
      live.add(worker);
      logger.info('worker started', { worker: worker.id, worker_pid: worker.process.pid });
    };
    const finish = (): void => {
      clearTimeout(deadline);
      cluster.off('listening', onListening);
      cluster.off('exit', onExit);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      if (failure) reject(failure);
      else if (unclean > 0) reject(new CreddyError('ERR_INTERNAL', `${unclean} worker(s) did not stop cleanly; see the log`));
      else {
        logger.info('all workers stopped');
        resolve();
      }
    };
    const stopAll = (): void => {
      if (phase === 'stopping') return;
      phase = 'stopping';
      for (const timer of restarts) clearTimeout(timer);
      restarts.clear();
      for (const worker of live) worker.process.kill('SIGTERM');
      deadline = setTimeout(() => {
        for (const worker of live) {
          logger.error('worker did not stop in time; killing it', { worker: worker.id, worker_pid: worker.process.pid });
          worker.process.kill('SIGKILL');
        }
      }, STOP_DEADLINE_MS);
      if (live.size === 0) finish();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info('draining', { signal, workers: live.size });
      stopAll();
    };
    const onListening = (worker: Worker, address: AddressInfo | { address: string; port: number }): void => {
      const firstTime = !listening.has(worker.id);
      listening.add(worker.id);
      if (phase === 'starting' && listening.size === count) {
        phase = 'serving';
        const host = address.address.includes(':') ? `[${address.address}]` : address.address;
        logger.info('workers ready', { workers: count, port: address.port });
        options.onListening(`http://${host}:${address.port}`);
      } else if (phase === 'serving' && firstTime) {
        logger.info('worker restarted', { worker: worker.id, worker_pid: worker.process.pid });
      }
    };
    const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
      live.delete(worker);
      const fields = { worker: worker.id, worker_pid: worker.process.pid, code, signal };
      if (phase === 'stopping') {
        // SIGTERM before the worker set up its own handler ends it at once: nothing was in flight.
        if (code !== 0 && signal !== 'SIGTERM') unclean += 1;
        logger.info('worker stopped', fields);
        if (live.size === 0) finish();
        return;
      }
      logger.error('worker exited', fields);
      if (phase === 'starting') {
        failure = new CreddyError(
          'ERR_NOT_READY',
          `worker ${worker.id} exited (${signal ?? code}) before every worker was listening; see its log`,
        );
        stopAll();
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && crashes[0]! <= now - CRASH_WINDOW_MS) crashes.shift();
      if (crashes.length >= MAX_CRASHES) {
        logger.error('workers keep crashing; stopping', { crashes: crashes.length, window_ms: CRASH_WINDOW_MS });
        failure = new CreddyError(
          'ERR_INTERNAL',
          `workers keep crashing (${crashes.length} exits within ${CRASH_WINDOW_MS / 1000} s); see the log`,
        );
        stopAll();
        return;
      }
      const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (crashes.length - 1));
      logger.warn('restarting worker', { ...fields, in_ms: delay });
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (phase !== 'stopping') fork();
      }, delay);
      restarts.add(timer);
    };

    cluster.on('listening', onListening);
    cluster.on('exit', onExit);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    for (let i = 0; i < count; i++) fork();
  });
}
