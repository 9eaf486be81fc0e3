import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { auditEvent } from '../../src/model/audit.js';
import { createServices, type Services } from '../../src/services.js';
import { runCli } from './cli.js';
import { captureLogger, demoYaml } from './setup.js';

/** Rows a test writes per transaction (and between two checkpoints) when it fills a log fast. */
const BATCH = 1000;

/** A config in `dir` with `audit.retention` (and more YAML, e.g. `store:`), for CLI runs and services. */
export function retentionConfig(dir: string, retention: string, extra = ''): string {
  const path = join(dir, 'creddy.yaml');
  writeFileSync(path, demoYaml({ dataDir: join(dir, 'data'), extra: `${extra}audit:\n  retention: ${retention}\n` }));
  return path;
}

/** Opens services (as the CLI does) on `configPath` with a clock stopped at `at` (epoch ms). */
export async function servicesAt(configPath: string, env: NodeJS.ProcessEnv, at: number): Promise<Services> {
  const config = parseConfig(readFileSync(configPath, 'utf8'), configPath, env);
  return createServices(config, { env, logger: captureLogger().logger, actor: 'cli', clock: { now: () => at } });
}

/**
 * Appends `rows` rows dated from `at` in transactions of 1000, each followed by a signed
 * checkpoint, as a busy server's log looks (checkpoint_every: 1000): many anchors, fast to write.
 */
export async function fillLog(configPath: string, env: NodeJS.ProcessEnv, at: number, rows: number): Promise<void> {
  const services = await servicesAt(configPath, env, at);
  try {
    for (let done = 0; done < rows; done += BATCH) {
      const n = Math.min(BATCH, rows - done);
      const entries = Array.from({ length: n }, (_, i) => ({
        event: auditEvent({ time: at + done + i, type: 'auth.failed', outcome: 'denied', actor: 'test' }),
      }));
      await services.store.audit.append(entries, services.auditSeal);
      await services.auditCheckpoints.checkpointNow();
    }
  } finally {
    await services.close();
  }
}

/** `creddy audit verify --json`: its exit code and report. */
export async function verifyLog(
  configPath: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; report: { ok: boolean; first_seq: number; problem: { kind: string; detail: string } | null } }> {
  const r = await runCli(['audit', 'verify', '--json', '--config', configPath], env);
  return { code: r.code, report: JSON.parse(r.stdout) };
}

/**
 * Where retention's steps end for a log starting at `from`: each at the furthest of `anchors`
 * (ascending) at most 10,000 rows on from the last, the last step at the last anchor.
 */
export function stepEnds(anchors: readonly number[], from = 1): number[] {
  const ends: number[] = [];
  let start = from;
  while (start < anchors.at(-1)!) {
    const ahead = anchors.filter((seq) => seq > start);
    start = ahead.filter((seq) => seq - start <= 10_000).at(-1) ?? ahead[0]!;
    ends.push(start);
  }
  return ends;
}
