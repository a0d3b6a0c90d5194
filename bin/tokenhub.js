#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/ (built by `npm ci` via `prepare`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    // Never print a stack trace to users; the CLI reports its own errors before this point.
    process.stderr.write(`tokenhub: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
