import { describe, expect, it } from 'vitest';
import type { PruneProgress } from '../../src/audit/retention.js';
import { pruneProgress } from '../../src/cli/prune-progress.js';

const step = (n: number, steps: number): PruneProgress => ({
  step: n,
  steps,
  fromSeq: 1 + (n - 1) * 10_000,
  anchorSeq: 1 + n * 10_000,
  deleted: 10_000,
  total: n * 10_000,
});

/** Runs a prune's progress into a buffer that is, or is not, a terminal. */
function render(isTTY: boolean, steps: PruneProgress[]): string {
  let text = '';
  const progress = pruneProgress({ isTTY, write: (t: string | Uint8Array) => (text += String(t)) });
  for (const s of steps) progress.step(s);
  progress.done();
  return text;
}

describe('audit prune progress on stderr', () => {
  it('elsewhere than a terminal: a line per step when there are several, nothing for one', () => {
    expect(render(false, [step(1, 2), step(2, 2)])).toBe(
      'audit prune: step 1 of 2: 10000 events deleted (seq 1-10000), 10000 so far; the log starts at seq 10001\n' +
        'audit prune: step 2 of 2: 10000 events deleted (seq 10001-20000), 20000 so far; the log starts at seq 20001\n',
    );
    expect(render(false, [step(1, 1)])).toBe('');
  });

  it('on a terminal: one line rewritten per step, left standing at the end', () => {
    expect(render(true, [step(1, 2), step(2, 2)])).toBe(
      '\r\u001B[Kaudit prune: step 1 of 2: 10000 events deleted (seq 1-10000), 10000 so far; the log starts at seq 10001' +
        '\r\u001B[Kaudit prune: step 2 of 2: 10000 events deleted (seq 10001-20000), 20000 so far; the log starts at seq 20001\n',
    );
  });

  it('a step whose rows another process had pruned says so', () => {
    expect(render(false, [{ ...step(1, 2), deleted: 0 }, step(2, 2)])).toContain(
      'step 1 of 2: nothing left below seq 10001 (another process pruned it); the log starts at seq 10001',
    );
  });
});
