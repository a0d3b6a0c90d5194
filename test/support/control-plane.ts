// Test-facing entry point; the implementation lives under src/ so that the
// compiled `npm run cluster:up` script can share it.
export * from '../../src/devtools/control-plane.js';
