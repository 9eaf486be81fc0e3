import type { Store } from '../store/port.js';
import type { KekSet } from './kek.js';
import { open, revocationHandleAad, seal } from './kek.js';

/** Rows read per page while rewrapping handles. */
const PAGE = 500;

/**
 * Re-seals every live downstream revocation handle (what creddy needs to kill a GitHub token
 * early) under the current KEK, so the previous KEK can be dropped at once after a rewrap. A
 * handle the current KEK already opens is left alone; each swap is guarded on the old bytes, so
 * a reaper clearing the handle meanwhile wins, and a re-run after an interruption is safe.
 */
export async function rewrapRevocationHandles(deps: { store: Store; keks: KekSet }): Promise<number> {
  const { store, keks } = deps;
  let rewrapped = 0;
  let after = '';
  for (;;) {
    const page = await store.credentials.withRevocationHandles(after, PAGE);
    for (const record of page) {
      const sealed = record.revocationHandle!;
      const aad = revocationHandleAad(record.jti);
      if (opens(keks.current, sealed, aad)) continue;
      if (!keks.previous) continue; // sealed by a KEK we do not hold: nothing to do, and nothing to lose
      const plain = open(keks.previous, sealed, aad);
      if (await store.credentials.replaceRevocationHandle(record.jti, sealed, seal(keks.current, plain, aad))) rewrapped++;
      plain.fill(0);
    }
    if (page.length < PAGE) return rewrapped;
    after = page.at(-1)!.jti;
  }
}

function opens(kek: KekSet['current'], sealed: Uint8Array, aad: string): boolean {
  try {
    open(kek, sealed, aad).fill(0);
    return true;
  } catch {
    return false;
  }
}
