import { isCreddyError } from '../errors.js';
import type { CredentialRecord } from '../model/credential.js';
import type { Store } from '../store/port.js';
import type { Kek, KekSet } from './kek.js';
import { open, revocationHandleAad, seal } from './kek.js';

/** Rows read per page while rewrapping handles. */
const PAGE = 500;

/**
 * A revocation handle rewrap left as it is: neither configured KEK opens it. Named by its
 * credential (never the handle's content, which is a live downstream token or role name).
 */
export interface SkippedHandle {
  readonly jti: string;
  readonly agent: string;
  readonly backend: string;
  /** The downstream credential's own expiry (ISO), when the backend gave one. */
  readonly downstreamExpiresAt: string | null;
  /** When nothing is left to revoke early (epoch s): the later of the token's and the downstream part's expiry. */
  readonly spentAt: number;
  /** Why it does not open (the jti and KEK ids, never the handle). */
  readonly problem: string;
}

/** What `rewrapRevocationHandles` did. */
export interface HandlesRewrap {
  readonly rewrapped: number;
  /** Handles no configured KEK opens, left untouched. */
  readonly skipped: readonly SkippedHandle[];
}

/**
 * Re-seals every live downstream revocation handle (what creddy needs to kill a GitHub token
 * early) under the current KEK, so the previous KEK can be dropped at once after a rewrap. A
 * handle the current KEK already opens is left alone; each swap is guarded on the old bytes, so
 * a reaper clearing the handle meanwhile wins, and a re-run after an interruption is safe.
 *
 * A handle neither KEK opens (written without the KEK, altered, or sealed by a KEK no longer
 * configured) is skipped and returned, not a stop: one such row must not keep every other handle
 * on the old KEK. Handles carry no KEK id, so "opens with the current KEK" is the only test of
 * being current.
 */
export async function rewrapRevocationHandles(deps: { store: Store; keks: KekSet }): Promise<HandlesRewrap> {
  const { store, keks } = deps;
  let rewrapped = 0;
  const skipped: SkippedHandle[] = [];
  let after = '';
  for (;;) {
    const page = await store.credentials.withRevocationHandles(after, PAGE);
    for (const record of page) {
      const sealed = record.revocationHandle!;
      const aad = revocationHandleAad(record.jti);
      if (opens(keks.current, sealed, aad)) continue;
      const plain = keks.previous ? tryOpen(keks.previous, sealed, aad) : undefined;
      if (!plain) {
        skipped.push(skippedHandle(record, keks));
        continue;
      }
      if (await store.credentials.replaceRevocationHandle(record.jti, sealed, seal(keks.current, plain, aad))) rewrapped++;
      plain.fill(0);
    }
    if (page.length < PAGE) return { rewrapped, skipped };
    after = page.at(-1)!.jti;
  }
}

function skippedHandle(record: CredentialRecord, keks: KekSet): SkippedHandle {
  const tried = [keks.current.id, ...(keks.previous ? [keks.previous.id] : [])].join(' nor ');
  return {
    jti: record.jti,
    agent: record.agent,
    backend: record.backend,
    downstreamExpiresAt: record.downstream?.expiresAt ?? null,
    spentAt: Math.max(record.expiresAt, Math.ceil(Date.parse(record.downstream?.expiresAt ?? '') / 1000) || 0),
    problem: `revocation handle of credential ${record.jti} does not decrypt under KEK ${tried}: written without the KEK, altered, or sealed by a KEK not configured`,
  };
}

function tryOpen(kek: Kek, sealed: Uint8Array, aad: string): Buffer | undefined {
  try {
    return open(kek, sealed, aad);
  } catch (err) {
    if (!isCreddyError(err, 'ERR_KEK_INVALID')) throw err;
    return undefined;
  }
}

function opens(kek: Kek, sealed: Uint8Array, aad: string): boolean {
  const plain = tryOpen(kek, sealed, aad);
  plain?.fill(0);
  return plain !== undefined;
}
