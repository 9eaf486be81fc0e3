import { sealedDigest } from '../audit/secret-facts.js';
import { isCreddyError } from '../errors.js';
import { seal } from '../keys/kek.js';
import type { SecretVersionRecord } from '../model/secret.js';
import { openSecretValue, secretValueAad } from './seal.js';
import { type SecretServices, secretEvent } from './write.js';

/** Rows read per page while rewrapping. */
const PAGE = 500;

/** A stored secret value rewrap left as it is: no configured KEK opens it. Never the value. */
export interface SkippedSecretValue {
  readonly path: string;
  readonly version: number;
  /** The KEK id the row claims (a label: whoever writes the row sets it). */
  readonly kekId: string | null;
  /** True for the path's current version (false: a previous one, erased once its grace ends). */
  readonly current: boolean;
  /** Why it does not open (path, version and KEK ids, never the value). */
  readonly problem: string;
}

/** What `rewrapSecrets` did. */
export interface SecretsRewrap {
  readonly rewrapped: number;
  /** Values sealed by the current KEK that open with it. */
  readonly alreadyCurrent: number;
  readonly skipped: readonly SkippedSecretValue[];
}

/**
 * Re-seals every stored secret value not sealed by the current KEK (`creddy keys rewrap`), each
 * as its own guarded write with a `secret.rewrapped` audit row naming path, version and both KEK
 * ids. A value erased or rewrapped meanwhile is skipped; an interrupted run is resumed by the next.
 *
 * A value no configured KEK opens is skipped and returned, not a stop: one row written without
 * the KEK (or altered) must not keep every other value on the old KEK. A value whose `kek_id`
 * names the current KEK is opened too: the id is only a label, and counted as current on its
 * word, a forged row would go unnamed.
 */
export async function rewrapSecrets(services: SecretServices, actor: string): Promise<SecretsRewrap> {
  const { store, keks } = services;
  let rewrapped = 0;
  let alreadyCurrent = 0;
  const skipped: SkippedSecretValue[] = [];
  let after = '';
  for (;;) {
    const page = await store.secrets.sealedAfter(after, PAGE);
    for (const record of page) {
      if (record.sealed === null) continue;
      // Opened with the KEK that sealed it (CREDDY_KEK_PREVIOUS during a KEK rotation).
      let value: string;
      try {
        value = openSecretValue(keks, { ...record, sealed: record.sealed });
      } catch (err) {
        if (!isCreddyError(err, 'ERR_KEK_INVALID')) throw err;
        skipped.push(skippedValue(record, keks));
        continue;
      }
      if (record.kekId === keks.current.id) {
        alreadyCurrent++;
        continue;
      }
      const plain = Buffer.from(value, 'utf8');
      const sealed = seal(keks.current, plain, secretValueAad(record.path, record.version));
      plain.fill(0);
      const event = secretEvent('secret.rewrapped', actor, services.clock.now(), {
        path: record.path,
        version: record.version,
        from_kek: record.kekId,
        to_kek: keks.current.id,
        sealed_sha256: sealedDigest(sealed),
      });
      const done = await store.secrets.write(
        { kind: 'reseal', id: record.id, previous: record.sealed, sealed, kekId: keks.current.id },
        { events: [event], seal: services.auditSeal },
      );
      if (done) rewrapped++;
    }
    if (page.length < PAGE) return { rewrapped, alreadyCurrent, skipped };
    after = page.at(-1)!.id;
  }
}

function skippedValue(record: SecretVersionRecord, keks: SecretServices['keks']): SkippedSecretValue {
  const tried = [keks.current.id, ...(keks.previous ? [keks.previous.id] : [])].join(' nor ');
  const claims = record.kekId === null ? 'no KEK id' : `KEK ${record.kekId}`;
  return {
    path: record.path,
    version: record.version,
    kekId: record.kekId,
    current: record.supersededAt === null,
    problem: `secret value ${record.path} version ${record.version} (sealed, it claims, by ${claims}) does not decrypt under KEK ${tried}: written without the KEK, altered, or sealed by a KEK not configured`,
  };
}
