import type { Logger } from '../_utils/logger.js';
import type { StateGuard } from '../audit/state-guard.js';
import type { SecretReading, SecretSource } from '../backends/secret/source.js';
import { CreddyError, isCreddyError } from '../errors.js';
import type { KekSet } from '../keys/kek.js';
import type { SecretVersionRecord } from '../model/secret.js';
import type { Store } from '../store/port.js';
import { openSecretValue } from './seal.js';

/**
 * The secret source the composition root hands to `type: secret` backends: readable versions from
 * the store, unsealed with the KEK. Nothing is cached: a rotation or delete is served at once.
 * With the server's state guard, the versions read must be the ones the audit log says are
 * readable (a rollback or edit in the database is ERR_SECRET_INTEGRITY, audited as the denial).
 */
export function createSecretSource(deps: { store: Store; keks: KekSet; guard?: StateGuard | undefined; logger?: Logger }): SecretSource {
  const { store, keks, guard } = deps;
  return {
    async read(selector, now, maxPaths) {
      const read = () => store.secrets.readable(selector, now);
      const records = guard ? await guard.readSecrets(selector, read) : await read();
      const paths = new Set(records.map((r) => r.path)).size;
      if (paths > maxPaths) {
        throw new CreddyError(
          'ERR_SCOPE_INVALID',
          `the scopes cover ${paths} secrets; at most ${maxPaths} per credential (ask for narrower paths)`,
          { details: { field: 'scopes' } },
        );
      }
      return records.flatMap((record): SecretReading[] =>
        record.sealed === null
          ? []
          : [
              {
                path: record.path,
                version: record.version,
                value: unseal({ ...record, sealed: record.sealed }),
                createdAt: record.createdAt,
                supersededAt: record.supersededAt,
                readableUntil: record.readableUntil,
              },
            ],
      );
    },
    erase: (now) => store.secrets.erase(now),
  };

  /**
   * The AAD binds a value to its path and version, so a ciphertext moved to another row fails to
   * open under the very KEK that sealed it: that is the row's integrity failing, not the KEK.
   */
  function unseal(record: SecretVersionRecord & { sealed: Uint8Array }): string {
    try {
      return openSecretValue(keks, record);
    } catch (err) {
      if (!isCreddyError(err) || err.code !== 'ERR_KEK_INVALID' || record.kekId === null || !keks.byId(record.kekId)) throw err;
      const problem = 'its sealed value does not open for its path and version (swapped or edited)';
      deps.logger?.error('secret value failed its integrity check; refused', { path: record.path, version: record.version, problem });
      throw new CreddyError('ERR_SECRET_INTEGRITY', `secret ${record.path} failed its integrity check`, {
        details: { path: record.path, version: record.version, problem },
      });
    }
  }
}
