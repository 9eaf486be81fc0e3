import type { CrashHook } from './transition.js';

/**
 * Test-only fault injection, honoured only with `NODE_ENV=test`:
 * - `CREDDY_TEST_CRASH_AT=<step>`: the process kills itself with SIGKILL when a key transition
 *   reaches `<step>` (e.g. `rotate:committed`, `rewrap:row-2`), so tests can prove every crash
 *   point leaves the store consistent;
 * - `CREDDY_TEST_PAUSE_AT=<step>`: it stalls there for 500 ms, so two processes are sure to
 *   race between reading the keys and writing them.
 */
export function crashHookFromEnv(env: NodeJS.ProcessEnv): CrashHook | undefined {
  const crashAt = env['CREDDY_TEST_CRASH_AT'];
  const pauseAt = env['CREDDY_TEST_PAUSE_AT'];
  if ((!crashAt && !pauseAt) || env['NODE_ENV'] !== 'test') return undefined;
  return (step) => {
    // A synchronous sleep: the hook runs at a point where the process must not do anything else.
    if (step === pauseAt) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  };
}
