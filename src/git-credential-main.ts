#!/usr/bin/env node
import { runCli } from './cli/index.js';

// The `git-credential-creddy` bin: git runs `git-credential-<name> [args] get` for
// `credential.helper <name> [args]`, so `git config credential.helper 'creddy --backend gh'`
// works without the `!` shell form.
process.exitCode = await runCli(['git-credential', ...process.argv.slice(2)]);
