import type { FakeGitHub } from '../fakes/github.js';
import { eventually } from '../helpers/harness.js';

/**
 * Holds the fake GitHub's next token mint until `release()`; `started` resolves once the mint
 * arrived. An issuance held there has authenticated and passed its policy checks, and has not
 * yet appended its audit row: the window an operator's change can race.
 */
export function holdNextMint(gh: FakeGitHub): { started: Promise<void>; release: () => void } {
  let release!: () => void;
  gh.faults.push({ until: new Promise<void>((r) => (release = r)) });
  const before = gh.requests.length;
  return { started: eventually(() => gh.requests.length > before), release };
}
