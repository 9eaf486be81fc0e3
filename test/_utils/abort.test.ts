import { describe, expect, it } from 'vitest';
import { timeoutSignal } from '../../src/_utils/abort.js';

describe('timeoutSignal', () => {
  it('aborts with a TimeoutError after ms, even after a forced GC', async () => {
    const { signal } = timeoutSignal(new AbortController().signal, 50);
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 120));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).name).toBe('TimeoutError');
  });

  it('follows the parent, and clear() stops both', async () => {
    const parent = new AbortController();
    const child = timeoutSignal(parent.signal, 10_000);
    parent.abort(new Error('deadline'));
    expect(child.signal.aborted).toBe(true);
    expect((child.signal.reason as Error).message).toBe('deadline');

    const other = new AbortController();
    const cleared = timeoutSignal(other.signal, 30);
    cleared.clear();
    other.abort();
    await new Promise((r) => setTimeout(r, 60));
    expect(cleared.signal.aborted).toBe(false);
  });
});
