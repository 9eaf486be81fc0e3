import { createHash } from 'node:crypto';
import { type Clock, nowSeconds } from '../_utils/clock.js';
import type { Logger } from '../_utils/logger.js';
import type { KeysConfig } from '../config/types.js';
import { CreddyError } from '../errors.js';
import type { KeyRecord } from '../model/key.js';
import type { AuditSealer, Store } from '../store/port.js';
import { publicJwk } from './jwk.js';
import type { KekSet } from './kek.js';
import { newKeyRecord } from './new-key.js';
import { createSigner, type Signer } from './sign.js';
import { RETIRE_GRACE_S, removalAt } from './timing.js';
import { keyEvent } from './transition.js';
import { unsealSigningKey } from './unseal.js';

/** The served JWKS, pre-serialised with its ETag so each request costs nothing. */
export interface JwksDocument {
  readonly body: string;
  /** `body` as UTF-8, what the JWKS responses send. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly etag: string;
  readonly kids: readonly string[];
}

export interface KeyringDeps {
  readonly store: Store;
  readonly keks: KekSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: KeysConfig;
  /** Who acts when the keyring creates keys (`server`, `cli`). */
  readonly actor: string;
  /** Seals the `key.created` rows committed with the keys the keyring creates. */
  readonly auditSeal: AuditSealer;
  /**
   * Reads the key rows with `load` and says which may be published or sign (the server passes the
   * audit state guard: a row that disagrees with the log is left out). All rows by default.
   */
  readonly vet?: (load: () => Promise<KeyRecord[]>) => Promise<{ loaded: KeyRecord[]; usable: KeyRecord[] }>;
}

/** Runtime view of the signing keys: the current signer and the published JWKS. */
export interface Keyring {
  /** Loads keys, creating the first `current` and `next` on an empty store. */
  init(): Promise<void>;
  /** Re-reads the store; picks up rotations made by other processes (CLI, replicas). */
  refresh(): Promise<void>;
  /** The current signer; ERR_NOT_READY before init. */
  signer(): Signer;
  jwks(): JwksDocument;
  /** Records of the last refresh, for `keys list` and readiness. */
  records(): readonly KeyRecord[];
}

export function createKeyring(deps: KeyringDeps): Keyring {
  const { store, keks, clock, logger, config } = deps;
  const signers = new Map<string, Signer>();
  let records: KeyRecord[] = [];
  let current: Signer | undefined;
  let jwks: JwksDocument = buildJwks([]);
  let fingerprint = '';

  const signerFor = (record: KeyRecord): Signer => {
    const cached = signers.get(record.kid);
    if (cached) return cached;
    const signer = createSigner(unsealSigningKey(keks, record).key, record.kid);
    signers.set(record.kid, signer);
    return signer;
  };

  /** Inserts keys together with their `key.created` rows; false if another process won the race. */
  const insertAudited = (keys: readonly KeyRecord[]): Promise<boolean> =>
    store.keys.apply(
      keys.map((key) => ({ op: 'insert', key })),
      {
        events: keys.map((key) => keyEvent({ clock }, 'key.created', deps.actor, key.kid, { state: key.state })),
        seal: deps.auditSeal,
      },
    );

  // Retired keys whose removal has passed for good: their usage can no longer grow, skip the query.
  const gone = new Set<string>();

  const reload = async (): Promise<void> => {
    const now = nowSeconds(clock);
    const load = () => store.keys.list();
    // The vetting reads the rows first, then the log (a transition commits both together, so the
    // log read afterwards is never older than the rows), and reads both again if they disagree.
    const { loaded, usable } = deps.vet ? await deps.vet(load) : await load().then((rows) => ({ loaded: rows, usable: rows }));
    const retired = usable.filter((k) => k.state === 'retired' && !gone.has(k.kid));
    const usage = retired.length > 0 ? await store.keys.usage(retired.map((k) => k.kid)) : new Map<string, { lastExp: number }>();
    const stillPublished = (k: KeyRecord): boolean => {
      if (gone.has(k.kid)) return false;
      const removal = removalAt(k, usage.get(k.kid)?.lastExp ?? 0, config);
      if (removal >= now) return true;
      // Past the grace period no process signs with it any more, so its last exp is final.
      if ((k.retiredAt ?? 0) + RETIRE_GRACE_S < now) gone.add(k.kid);
      return false;
    };
    // A retired key stays published until the last token it signed has expired, plus skew;
    // a revoked key disappears at once.
    const published = usable.filter((k) => k.state === 'next' || k.state === 'current' || (k.state === 'retired' && stillPublished(k)));
    const print = published.map((k) => `${k.kid}:${k.state}`).join(',');
    records = loaded;
    if (print === fingerprint && current) return;
    jwks = buildJwks(published);
    fingerprint = print;
    const currentRecord = usable.find((k) => k.state === 'current');
    try {
      current = currentRecord ? signerFor(currentRecord) : undefined;
    } catch (err) {
      // Fail closed: never keep signing with a key the store no longer calls current.
      current = undefined;
      throw err;
    }
    logger.info('signing keys loaded', { current: current?.kid ?? null, published: jwks.kids });
  };

  /**
   * One reload at a time. Refreshes come from the 1-s poll, from PostgreSQL's notification of a
   * key transition and from init; two reloads side by side could finish out of order, and the
   * one that read the store first would put back the keys the other had just replaced (a JWKS
   * without the new `next`, or the old `current` signing again). A call while a reload runs is
   * answered by one more reload after it (what changed since it began), shared by every such call.
   */
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    if (!running) {
      running = reload().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return refresh();
      });
    return queued;
  };

  /**
   * A `next` must always exist and be usable: recreate it if missing, and open it now so a wrong
   * KEK fails at start rather than at the next rotation.
   */
  const ensureNext = async (): Promise<void> => {
    const existing = records.find((k) => k.state === 'next');
    if (existing) {
      signerFor(existing);
      return;
    }
    const successor = newKeyRecord(keks, 'next', nowSeconds(clock));
    // The unique index on `next` lets exactly one racing process insert it.
    if (await insertAudited([successor])) {
      logger.warn('no next signing key was found; created one', { next: successor.kid });
    }
    await refresh();
  };

  return {
    async init() {
      await refresh();
      if (current) {
        await ensureNext();
        return;
      }
      const now = nowSeconds(clock);
      const first = newKeyRecord(keks, 'current', now);
      const successor = newKeyRecord(keks, 'next', now);
      // Two processes may bootstrap at once; the unique index on `current` lets exactly one win.
      if (await insertAudited([first, successor])) {
        logger.info('created first signing keys', { current: first.kid, next: successor.kid });
      }
      await refresh();
      if (!current) throw new CreddyError('ERR_NOT_READY', 'no current signing key after bootstrap');
      await ensureNext();
    },
    refresh,
    signer() {
      if (!current) throw new CreddyError('ERR_NOT_READY', 'no signing key loaded');
      return current;
    },
    jwks: () => jwks,
    records: () => records,
  };
}

function buildJwks(keys: readonly KeyRecord[]): JwksDocument {
  // Current first: verifiers that try keys in order hit the common case at once.
  const order = { current: 0, next: 1, retired: 2, revoked: 3 } as const;
  const sorted = [...keys].sort((a, b) => order[a.state] - order[b.state] || a.createdAt - b.createdAt);
  const body = JSON.stringify({ keys: sorted.map((k) => publicJwk(k.publicX)) });
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, bytes: new TextEncoder().encode(body), etag, kids: sorted.map((k) => k.kid) };
}
