#!/usr/bin/env node
/**
 * The built `creddy` CLI with a crash hook, for tests that stop a real process in the middle of a
 * key transition (test/keys/). Production code has no such hook; runCli takes it as a test seam.
 *
 * - CREDDY_TEST_CRASH_AT=<step>: SIGKILL itself when a transition reaches <step>
 *   (`rotate:generated`, `rotate:committed`, `rewrap:row-N`);
 * - CREDDY_TEST_PAUSE_AT=<step>: stall there for 500 ms, so two processes are sure to race
 *   between reading the keys and writing them.
 */
import { runCli } from '../../dist/cli/index.js';

const { CREDDY_TEST_CRASH_AT: crashAt, CREDDY_TEST_PAUSE_AT: pauseAt } = process.env;

/** @param {string} step */
function crash(step) {
  // A synchronous sleep: the hook runs where the process must not do anything else.
  if (step === pauseAt) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  if (step === crashAt) process.kill(process.pid, 'SIGKILL');
}

process.exitCode = await runCli(process.argv.slice(2), {}, { crash });
