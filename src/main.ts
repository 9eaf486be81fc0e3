#!/usr/bin/env node
import { runCli } from './cli/index.js';

// The `creddy` bin: hand argv to the CLI, exit with its code once output is flushed.
process.exitCode = await runCli(process.argv.slice(2));
