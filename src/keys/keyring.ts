import { createHash } from 'node:crypto';
import { type Clock, nowSeconds } from '../_utils/clock.js';
import type { Logger } from '../_utils/logger.js';
import type { KeysConfig } from '../config/types.js';
import { CreddyError } from '../errors.js';
import type { KeyRecord } from '../model/key.js';
import type { AuditSealer, Store } from '../store/port.js';
import { publicJwk, thumbprint } from './jwk.js';
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
  /**
   * Kids of the rows whose sealed private key does not open with the configured KEK (see
   * `reload`): never published, never signing. For the metrics and `keys list`.
   */
  unopenable(): readonly string[];
}

export function createKeyring(deps: KeyringDeps): Keyring {
  const { store, keks, clock, logger, config } = deps;
  const signers = new Map<string, Signer>();
  let records: KeyRecord[] = [];
  let current: Signer | undefined;
  let jwks: JwksDocument = buildJwks([]);
  let fingerprint = '';
  /** Why nothing signs although the store has a current key (its row does not open). */
  let problem: CreddyError | undefined;

  const signerFor = (record: KeyRecord): Signer => {
    const cached = signers.get(record.kid);
    if (cached) return cached;
    const signer = createSigner(unsealSigningKey(keks, record).key, record.kid);
    signers.set(record.kid, signer);
    return signer;
  };

  /**
   * Why each row whose sealed private key does not open failed, by kid, with the bytes that
   * failed: the KEKs of a process never change, so the same bytes are not tried (nor logged)
   * again; new bytes (a rewrap) are.
   */
  const unopened = new Map<string, { sealed: Uint8Array; kekId: string; error: unknown }>();

  /**
   * True when the row's private key opens with the KEK and matches its public key. A row that
   * someone with INSERT or UPDATE on the table but without the KEK wrote (a leaked database
   * password) cannot pass: its public key may be the attacker's, so publishing it would let the
   * attacker's own tokens verify, and signing with it fails. Such a row is logged once, by kid,
   * and left out; it never stops the keys that do open.
   */
  const opens = (record: KeyRecord): boolean => {
    // A signer is cached by kid; a row whose public key is not that kid's (edited) is not that key.
    if (signers.has(record.kid)) return thumbprint(record.publicX) === record.kid;
    const failed = unopened.get(record.kid);
    if (failed && failed.kekId === record.kekId && Buffer.from(failed.sealed).equals(Buffer.from(record.sealedPrivate))) return false;
    try {
      signerFor(record);
      unopened.delete(record.kid);
      return true;
    } catch (error) {
      unopened.set(record.kid, { sealed: record.sealedPrivate, kekId: record.kekId, error });
      // The kid in the message too: the CLI's logger prints the message alone.
      logger.error(`signing key ${record.kid} does not open with the configured KEK; neither published nor used to sign`, {
        kid: record.kid,
        state: record.state,
        problem: (error as Error).message,
      });
      return false;
    }
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
    // a revoked key disappears at once. Only keys this process can open are published: a public
    // key in the JWKS vouches for every token it verifies, and only the KEK proves the row is ours.
    const published = usable.filter(
      (k) => (k.state === 'next' || k.state === 'current' || (k.state === 'retired' && stillPublished(k))) && opens(k),
    );
    for (const kid of unopened.keys()) if (!loaded.some((k) => k.kid === kid)) unopened.delete(kid);
    const print = published.map((k) => `${k.kid}:${k.state}`).join(',');
    records = loaded;
    const currentRecord = usable.find((k) => k.state === 'current');
    if (print === fingerprint && current && current.kid === currentRecord?.kid) return;
    jwks = buildJwks(published);
    fingerprint = print;
    // Fail closed: never keep signing with a key the store no longer calls current, nor with
    // another one when the current row does not open.
    current = currentRecord && published.includes(currentRecord) ? signerFor(currentRecord) : undefined;
    const failed = currentRecord && !current ? unopened.get(currentRecord.kid) : undefined;
    problem = currentRecord && failed ? noSigner(currentRecord, failed.error) : undefined;
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
      // A next row that does not open was logged and left out of the JWKS by the reload; it must
      // not stop a server that can sign (`creddy keys revoke KID` replaces it).
      opens(existing);
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
      const unopenedCurrent = records.find((k) => k.state === 'current' && unopened.has(k.kid));
      if (unopenedCurrent) {
        // Nothing the KEK opens at all: a wrong KEK, named as such (it would seal new data too).
        if (jwks.kids.length === 0) throw unopened.get(unopenedCurrent.kid)!.error;
        // The KEK is right and the current row is not ours. A server cannot sign; an operator
        // command still runs (and logged the problem), so `keys revoke --force` can replace it.
        if (deps.actor === 'server') throw problem;
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
      if (!current) {
        // Another process's current won the insert: one our KEK does not open is said as such.
        const stored = records.find((k) => k.state === 'current');
        const failed = stored && unopened.get(stored.kid);
        throw failed ? failed.error : noCurrentAfterBootstrap(stored);
      }
      await ensureNext();
    },
    refresh,
    signer() {
      if (!current) {
        if (problem) throw new CreddyError('ERR_NOT_READY', problem.message, { cause: problem, details: problem.details ?? {} });
        throw new CreddyError('ERR_NOT_READY', 'no signing key loaded');
      }
      return current;
    },
    jwks: () => jwks,
    records: () => records,
    unopenable: () => [...unopened.keys()],
  };
}

/**
 * The error when the current row does not open: nothing signs (another key would be one the
 * store does not call current). The unseal error says which KEK id sealed it and which are
 * configured — a wrong CREDDY_KEK, or a row written without the KEK.
 */
function noSigner(record: KeyRecord, cause: unknown): CreddyError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CreddyError(
    'ERR_KEK_INVALID',
    `no usable signing key: the current key ${record.kid} does not open with the configured KEK (${why}); if CREDDY_KEK is right, the row was written without it: revoke it with \`creddy keys revoke ${record.kid} --force\``,
    { cause, details: { kid: record.kid } },
  );
}

function buildJwks(keys: readonly KeyRecord[]): JwksDocument {
  // Current first: verifiers that try keys in order hit the common case at once.
  const order = { current: 0, next: 1, retired: 2, revoked: 3 } as const;
  const sorted = [...keys].sort((a, b) => order[a.state] - order[b.state] || a.createdAt - b.createdAt);
  const body = JSON.stringify({ keys: sorted.map((k) => publicJwk(k.publicX)) });
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, bytes: new TextEncoder().encode(body), etag, kids: sorted.map((k) => k.kid) };
}

/**
 * Why a server has no current key after bootstrapping: its insert lost to a `current` row that is
 * already there (the unique index), and that row, which the KEK opens, was left out because it
 * does not match the audit log (the vetting logged why, per key). Rows changed outside creddy, or a log emptied
 * behind its back, end here: said so, with where to look, rather than as a bare "no key".
 */
function noCurrentAfterBootstrap(stored: KeyRecord | undefined): CreddyError {
  if (!stored) return new CreddyError('ERR_NOT_READY', 'no current signing key after bootstrap');
  return new CreddyError(
    'ERR_AUDIT_INVALID',
    `the stored current signing key ${stored.kid} does not match the audit log (the log line before this says why), so it is not used: ` +
      'its row was changed outside creddy, or the audit log was emptied. Run `creddy audit verify` (docs/audit.md)',
    { details: { kid: stored.kid } },
  );
}
