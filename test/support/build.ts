/**
 * Tests that run the built CLI need dist/ as fresh as src/: one staleness rule for all of them
 * (scripts/test.sh builds first; this covers a single test file run on its own).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');

function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/ (so a test never runs stale code). */
export function ensureBuilt(): void {
  const dist = join(ROOT, 'dist/src');
  if (existsSync(join(dist, 'cli/main.js')) && newestMtime(dist) >= newestMtime(join(ROOT, 'src'))) return;
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`npm run build failed:\n${res.stdout}\n${res.stderr}`);
}
