/**
 * What the container image relies on, checked without Docker: its runtime stage installs only
 * production dependencies (`npm ci --omit=dev`), so the compiled code must import nothing else;
 * and the build context (.dockerignore) must hold everything the Dockerfile copies from it.
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helm.js';

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return jsFiles(full);
    return e.name.endsWith('.js') ? [full] : [];
  });
}

/** Import statements and dynamic imports as tsc prints them (one statement a line). */
const IMPORTS = [/^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];

/** Package names a compiled module imports, statically or dynamically. */
function importedPackages(source: string): string[] {
  const specifiers = IMPORTS.flatMap((re) => [...source.matchAll(re)].map((m) => m[1] ?? ''));
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('/') && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) =>
      s
        .split('/')
        .slice(0, s.startsWith('@') ? 2 : 1)
        .join('/'),
    );
}

describe('the image', () => {
  it('runs on production dependencies alone: dist/src imports no devDependency', () => {
    const dist = join(ROOT, 'dist/src');
    expect(existsSync(dist), 'dist/src is missing: run `npm run build` first').toBe(true);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const allowed = new Set(Object.keys(pkg.dependencies ?? {}));
    const missing = jsFiles(dist).flatMap((file) =>
      importedPackages(readFileSync(file, 'utf8'))
        .filter((p) => !allowed.has(p))
        .map((p) => `${relative(ROOT, file)} imports ${p}`),
    );
    expect(missing).toEqual([]);
  });

  it('has in its build context every path the Dockerfile copies from it', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
      const words = (m[1] ?? '').trim().split(/\s+/);
      return words.slice(0, -1);
    });
    expect(sources.length).toBeGreaterThan(0);
    // .dockerignore excludes everything, then re-includes: each source must be re-included.
    const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(lines).toContain('**');
    const included = new Set(lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
    for (const src of sources) {
      expect(included.has(src.replace(/\/$/, '')), `${src} is not re-included in .dockerignore`).toBe(true);
      expect(existsSync(join(ROOT, src)), `${src} does not exist`).toBe(true);
    }
  });
});
