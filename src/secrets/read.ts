import type { SecretReading, SecretSource } from '../backends/secret/source.js';
import { CreddyError } from '../errors.js';
import type { KekSet } from '../keys/kek.js';
import type { Store } from '../store/port.js';
import { openSecretValue } from './seal.js';

/**
 * The secret source the composition root hands to `type: secret` backends: readable versions from
 * the store, unsealed with the KEK. Nothing is cached: a rotation or delete is served at once.
 */
export function createSecretSource(deps: { store: Store; keks: KekSet }): SecretSource {
  return {
    async read(selector, now, maxPaths) {
      const records = await deps.store.secrets.readable(selector, now);
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
                value: openSecretValue(deps.keks, { ...record, sealed: record.sealed }),
                createdAt: record.createdAt,
                supersededAt: record.supersededAt,
                readableUntil: record.readableUntil,
              },
            ],
      );
    },
    erase: (now) => deps.store.secrets.erase(now),
  };
}
