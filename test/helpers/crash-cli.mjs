#!/usr/bin/env node
/**
 * The built `creddy` CLI with a crash hook, for tests that stop a real process in the middle of a
 * key transition (test/keys/) or between retention's steps (test/audit/). Production code has no
 * such hook; runCli takes it as a test seam.
 *
 * - CREDDY_TEST_CRASH_AT=<step>: SIGKILL itself when a transition reaches <step>
 *   (`rotate:generated`, `rotate:committed`, `rewrap:row-N`, `prune:step-N` once retention's
 *   step N has committed);
 * - CREDDY_TEST_MEET_AT=<step> with CREDDY_TEST_MEET_DIR and CREDDY_TEST_MEET_PARTIES=<n>: wait
 *   at <step> until n processes have got there (a barrier through files in the dir), so racing
 *   processes are sure to have read the keys before any of them writes.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../dist/cli/index.js';

const { CREDDY_TEST_CRASH_AT: crashAt, CREDDY_TEST_MEET_AT: meetAt, CREDDY_TEST_MEET_DIR: meetDir } = process.env;
const parties = Number(process.env.CREDDY_TEST_MEET_PARTIES ?? 2);

/** Sleeps synchronously: the hook runs where the process must not do anything else. */
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** @param {string} step */
function crash(step) {
  if (step === meetAt && meetDir) {
    writeFileSync(join(meetDir, String(process.pid)), '');
    const giveUp = Date.now() + 10_000;
    while (readdirSync(meetDir).length < parties && Date.now() < giveUp) sleep(5);
  }
  if (step === crashAt) process.kill(process.pid, 'SIGKILL');
}

process.exitCode = await runCli(process.argv.slice(2), {}, { crash });
