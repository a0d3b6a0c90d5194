/**
 * The unit tier stays free of I/O: no test file outside the integration and system lists may
 * start Redis, an API server, a child process or read the build. A new test that needs one goes
 * into a list in vitest.config.ts (CONTRIBUTING.md, "Test tiers").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INTEGRATION, SYSTEM } from '../vitest.config.js';

const ROOT = join(import.meta.dirname, '..');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [relative(ROOT, join(dir, e.name))] : [],
  );
}

const inList = (file: string, list: readonly string[]): boolean =>
  list.some((p) => (p.endsWith('/**/*.test.ts') ? file.startsWith(p.slice(0, -'**/*.test.ts'.length)) : file === p));

/** What marks a test file as I/O: the helpers and modules that start servers or processes. */
const IO_MARKERS = [
  /support\/redis-server/,
  /support\/control-plane/,
  /support\/kube\.js/,
  /operator\/support\.js/,
  /support\/gateway-process/,
  /node:child_process/,
  /\bdist\//,
];

describe('test tiers', () => {
  const files = testFiles(join(ROOT, 'test'));

  it('every listed integration and system file exists', () => {
    for (const p of [...INTEGRATION, ...SYSTEM].filter((x) => !x.includes('*'))) expect(existsSync(join(ROOT, p)), p).toBe(true);
  });

  it('the unit tier has no file that starts Redis, an API server, a process or reads the build', () => {
    const unit = files.filter((f) => !inList(f, INTEGRATION) && !inList(f, SYSTEM));
    expect(unit.length).toBeGreaterThan(20);
    const io = unit.filter((f) => IO_MARKERS.some((m) => m.test(readFileSync(join(ROOT, f), 'utf8')) && f !== 'test/tiers.test.ts'));
    expect(io).toEqual([]);
  });
});
