import type { CommandDef } from 'citty';
import { CreddyError } from '../errors.js';
import { getCommand } from './caller.js';
import { exitQuietlyOnEpipe } from './epipe.js';
import { cliContext } from './io.js';
import { runLeaf } from './run-leaf.js';

/**
 * `creddy get`'s own entry. The AWS CLI runs `creddy get … --format credential-process` before
 * every command and scripts call `creddy get` in loops, so its start-up is most of what a user
 * waits for (issue 10: within 2× `node -e 0`). Node 20 spends ~0.5–1 ms per ES module on resolve,
 * read, compile and link, and the ES module loader itself costs ~3 ms to start; `get` needs ~30
 * modules. So the build bundles this file and what it imports into one
 * CommonJS file, `dist/cli/get.cjs` (esbuild, `npm run build`), and the CommonJS bin
 * (`creddy.cts`) loads it for `creddy get` without help; every other command goes to
 * `main.js` unbundled.
 *
 * The bundle holds its own copy of the modules it needs (`CreddyError` among them). Nothing
 * else runs in a process that loads it, so no object crosses between the two copies; the
 * command is the same `getCommand`, run by the same `runLeaf` as `runCli` runs it
 * (test/cli/get-bin.test.ts compares the two).
 *
 * @param argv the words after `creddy`: `get` first, no `--help`, `-h` or `--` (the bin sends
 *   those to the full CLI, which prints help and passes `--` on as `runCli` does).
 * @returns the exit code (0 ok, 1 error, 2 usage)
 */
export function runGet(argv: readonly string[]): Promise<number> {
  exitQuietlyOnEpipe();
  const ctx = cliContext(noCommandTree);
  const words = argv.slice(1).filter((a) => a !== '--debug');
  return runLeaf(ctx, getCommand, 'get', words, null, { debug: argv.includes('--debug'), json: argv.includes('--json') });
}

/** Only `help` and `completion` read the command tree; `get` never does. */
function noCommandTree(): Promise<CommandDef> {
  return Promise.reject(new CreddyError('ERR_INTERNAL', "the command tree is not loaded by creddy get's entry"));
}
