import { sealedDigest } from '../audit/secret-facts.js';
import { seal } from '../keys/kek.js';
import { openSecretValue, secretValueAad } from './seal.js';
import { type SecretServices, secretEvent } from './write.js';

/** Rows read per page while rewrapping. */
const PAGE = 500;

/**
 * Re-seals every stored secret value not sealed by the current KEK (`creddy keys rewrap`), each
 * as its own guarded write with a `secret.rewrapped` audit row naming path, version and both KEK
 * ids. A value erased or rewrapped meanwhile is skipped; an interrupted run is resumed by the next.
 */
export async function rewrapSecrets(services: SecretServices, actor: string): Promise<number> {
  const { store, keks } = services;
  let rewrapped = 0;
  let after = '';
  for (;;) {
    const page = await store.secrets.sealedAfter(after, PAGE);
    for (const record of page) {
      if (record.sealed === null || record.kekId === keks.current.id) continue;
      // Opened with the KEK that sealed it (CREDDY_KEK_PREVIOUS during a KEK rotation).
      const plain = Buffer.from(openSecretValue(keks, { ...record, sealed: record.sealed }), 'utf8');
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
    if (page.length < PAGE) return rewrapped;
    after = page.at(-1)!.id;
  }
}
