import type { SecretReading, SecretSource } from '../backends/secret/source.js';
import type { KekSet } from '../keys/kek.js';
import type { Store } from '../store/port.js';
import { openSecretValue } from './seal.js';

/**
 * The secret source the composition root hands to `type: secret` backends: readable versions from
 * the store, unsealed with the KEK. Nothing is cached: a rotation or delete is served at once.
 */
export function createSecretSource(deps: { store: Store; keks: KekSet }): SecretSource {
  return {
    async read(selector, now) {
      const records = await deps.store.secrets.readable(selector, now);
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
