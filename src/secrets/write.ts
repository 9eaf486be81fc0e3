import { randomBytes } from 'node:crypto';
import type { Clock } from '../_utils/clock.js';
import { nowSeconds } from '../_utils/clock.js';
import { sealedDigest } from '../audit/secret-facts.js';
import { secretPathProblem } from '../backends/secret/path.js';
import type { BackendConfig } from '../backends/types.js';
import { CreddyError } from '../errors.js';
import type { KekSet } from '../keys/kek.js';
import { backoff, isBusy, MAX_ATTEMPTS } from '../keys/transition.js';
import { type AuditType, auditEvent } from '../model/audit.js';
import type { SecretVersionRecord } from '../model/secret.js';
import type { AuditSealer, SecretWrite, Store } from '../store/port.js';
import { sealSecretValue } from './seal.js';
import { longestGrace, servingBackends } from './serving.js';

/** What the secret operations need; the broker's `Services` satisfies it. */
export interface SecretServices {
  readonly store: Store;
  readonly keks: KekSet;
  readonly clock: Clock;
  /** Seals the audit row each write commits with (as key transitions do). */
  readonly auditSeal: AuditSealer;
  readonly config: { readonly backends: ReadonlyMap<string, BackendConfig> };
}

/** Largest value accepted: a secret is a key, a password or a certificate, not a file store. */
export const SECRET_VALUE_MAX_BYTES = 32 * 1024;

/** A value to store, and who writes it. */
export interface SecretInput {
  readonly path: string;
  readonly value: string;
  /** creddy made the value (`--generate`): recorded, so `history` shows nobody ever saw it. */
  readonly generated: boolean;
  /** Who writes, as in the audit row (`cli`). */
  readonly actor: string;
}

export interface SecretWritten {
  readonly path: string;
  readonly version: number;
  /** The secret backends that serve this path (none: stored, but no backend hands it out yet). */
  readonly servedBy: readonly string[];
}

export interface SecretRotated extends SecretWritten {
  readonly previousVersion: number;
  /** Epoch s until which the previous version stays readable (its grace); equal to now when none. */
  readonly previousReadableUntil: number;
}

/** Stores the first version of a path (or the first after a delete). A live path is ERR_CONFLICT: rotate it. */
export async function putSecret(services: SecretServices, input: SecretInput): Promise<SecretWritten> {
  checkSecretInput(input);
  return retrying(services, async (now) => {
    const latest = await latestOf(services, input.path);
    if (latest && latest.deletedAt === null) {
      throw new CreddyError('ERR_CONFLICT', `secret ${input.path} exists (version ${latest.version}); use creddy secret rotate`);
    }
    const record = newVersion(services, input, (latest?.version ?? 0) + 1, now);
    const event = secretEvent('secret.created', input.actor, services.clock.now(), {
      path: input.path,
      version: record.version,
      generated: input.generated,
      sealed_sha256: sealedDigest(record.sealed),
    });
    if (!(await write(services, { kind: 'create', record }, event))) return undefined;
    return { path: input.path, version: record.version, servedBy: servedBy(services, input.path) };
  });
}

/**
 * Stores a new version of a live path. The previous one stays readable for `grace` seconds (by
 * default the longest grace of the backends serving the path), then its value is erased.
 */
export async function rotateSecret(services: SecretServices, input: SecretInput & { readonly grace?: number }): Promise<SecretRotated> {
  checkSecretInput(input);
  return retrying(services, async (now) => {
    const latest = await latestOf(services, input.path);
    if (!latest || latest.deletedAt !== null) throw notFound(input.path);
    const grace = input.grace ?? longestGrace(servingBackends(services.config.backends, input.path));
    const record = newVersion(services, input, latest.version + 1, now);
    const previousReadableUntil = now + grace;
    const event = secretEvent('secret.rotated', input.actor, services.clock.now(), {
      path: input.path,
      version: record.version,
      generated: input.generated,
      sealed_sha256: sealedDigest(record.sealed),
      previous_version: latest.version,
      previous_readable_until: previousReadableUntil,
    });
    if (!(await write(services, { kind: 'rotate', record, previousReadableUntil }, event))) return undefined;
    return {
      path: input.path,
      version: record.version,
      servedBy: servedBy(services, input.path),
      previousVersion: latest.version,
      previousReadableUntil,
    };
  });
}

/** Tombstones a live path: every version's value is erased at once; its history stays. */
export async function deleteSecret(
  services: SecretServices,
  input: { readonly path: string; readonly actor: string },
): Promise<{ path: string; version: number; deletedAt: number }> {
  const problem = secretPathProblem(input.path);
  if (problem) throw new CreddyError('ERR_USAGE', problem);
  return retrying(services, async (now) => {
    const latest = await latestOf(services, input.path);
    if (!latest || latest.deletedAt !== null) throw notFound(input.path);
    const event = secretEvent('secret.deleted', input.actor, services.clock.now(), { path: input.path, version: latest.version });
    if (!(await write(services, { kind: 'delete', path: input.path, version: latest.version, at: now }, event))) return undefined;
    return { path: input.path, version: latest.version, deletedAt: now };
  });
}

/**
 * Throws ERR_USAGE for a path outside the grammar or a value creddy cannot store (empty, too
 * large, a NUL byte); the CLI calls it before it opens, or creates, the store.
 */
export function checkSecretInput(input: Pick<SecretInput, 'path' | 'value'>): void {
  const problem = secretPathProblem(input.path);
  if (problem) throw new CreddyError('ERR_USAGE', problem);
  const bytes = Buffer.byteLength(input.value, 'utf8');
  if (bytes === 0) throw new CreddyError('ERR_USAGE', 'the secret value is empty');
  if (bytes > SECRET_VALUE_MAX_BYTES) throw new CreddyError('ERR_USAGE', `the secret value exceeds ${SECRET_VALUE_MAX_BYTES} bytes`);
  // It becomes an environment variable (`creddy exec`), which cannot hold NUL.
  if (input.value.includes('\u0000')) throw new CreddyError('ERR_USAGE', 'the secret value contains a NUL byte');
}

const notFound = (path: string): CreddyError =>
  new CreddyError('ERR_SECRET_NOT_FOUND', `no secret at ${path} (never written, or deleted)`, { details: { path } });

async function latestOf(services: SecretServices, path: string): Promise<SecretVersionRecord | undefined> {
  return (await services.store.secrets.versions(path)).at(-1);
}

function newVersion(services: SecretServices, input: SecretInput, version: number, now: number): SecretVersionRecord & { sealed: Buffer } {
  return {
    id: randomBytes(12).toString('base64url'),
    path: input.path,
    version,
    sealed: sealSecretValue(services.keks, input.path, version, input.value),
    kekId: services.keks.current.id,
    createdAt: now,
    createdBy: input.actor,
    generated: input.generated,
    supersededAt: null,
    readableUntil: null,
    deletedAt: null,
  };
}

/**
 * An audit row of a secret write: path and version in details, never the value nor a digest of
 * it (`sealed_sha256` digests the ciphertext, which says nothing about the value: it lets `audit
 * verify` tell a swapped or restored ciphertext).
 */
export function secretEvent(type: AuditType, actor: string, timeMs: number, details: Record<string, unknown>) {
  return auditEvent({ time: timeMs, type, outcome: 'success', actor, details });
}

async function write(services: SecretServices, change: SecretWrite, event: ReturnType<typeof secretEvent>): Promise<boolean> {
  return services.store.secrets.write(change, { events: [event], seal: services.auditSeal });
}

const servedBy = (services: SecretServices, path: string): string[] => servingBackends(services.config.backends, path).map((b) => b.name);

/**
 * Runs one guarded write until it applies: a lost race (another writer changed the path since
 * it was read) or a busy store is read again and retried, a bounded number of times. Values past
 * their grace are erased after each write.
 */
async function retrying<T>(services: SecretServices, attempt: (now: number) => Promise<T | undefined>): Promise<T> {
  for (let n = 0; n < MAX_ATTEMPTS; n++) {
    let result: T | undefined;
    const now = nowSeconds(services.clock);
    try {
      result = await attempt(now);
    } catch (err) {
      if (!isBusy(err)) throw err;
    }
    if (result !== undefined) {
      await services.store.secrets.erase(now);
      return result;
    }
    await backoff(n);
  }
  throw new CreddyError('ERR_CONFLICT', `the secret changed under ${MAX_ATTEMPTS} attempts in a row; run it again`);
}
