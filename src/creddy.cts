#!/usr/bin/env node
// The `creddy` bin. CommonJS on purpose: Node 20 starts its ES module loader for an ES module
// entry (~3 ms, a sixth of `node -e 0` here), which `creddy get` cannot afford (bench/cli-startup.mjs).
// `get` without help runs from one bundled CommonJS file (cli/get-main.ts says why); every other
// command, and `get --help`, goes to the ES module entry main.js, which runs them all.
import type { runGet } from './cli/get-main.js' with { 'resolution-mode': 'import' };

const argv = process.argv.slice(2);
// Help (and `--`, which runCli passes on as written) stay with the full CLI: it owns the usage text.
const fastGet = argv[0] === 'get' && !argv.some((a) => a === '--help' || a === '-h' || a === '--');
const bundle = fastGet ? getBundle() : undefined;

if (bundle) {
  bundle.runGet(argv).then((code) => {
    process.exitCode = code;
  });
} else {
  void import('./main.js');
}

/**
 * The `get` bundle, or undefined when this build has none (`tsc` alone, without `npm run build`'s
 * esbuild step): main.js then runs `get` too, unbundled, with the same answers.
 */
function getBundle(): { runGet: typeof runGet } | undefined {
  try {
    return require('./cli/get.cjs') as { runGet: typeof runGet };
  } catch (err) {
    const { code, requireStack } = err as { code?: string; requireStack?: string[] };
    // Only the bundle's own absence: its stack then holds this file alone.
    if (code === 'MODULE_NOT_FOUND' && requireStack?.length === 1) return undefined;
    throw err;
  }
}
