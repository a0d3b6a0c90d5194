/**
 * The module graph of src/ has no cycle, type-only imports included (ESLint's import-x/no-cycle
 * skips those), and the operator does not import gateway code. Pure: reads the sources as text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports (static, type-only, re-exports and dynamic), as src-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g)].map((m) => m[1] ?? '');
  return specs.map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
}

const graph = new Map(sources(SRC).map((f) => [relative(SRC, f), importsOf(f)]));

function findCycle(): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('module graph', () => {
  it('has no import cycle, counting type-only imports', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(findCycle()).toBeUndefined();
  });

  it('keeps the operator free of gateway code', () => {
    const operator = [...graph].filter(([f]) => f.startsWith('operator/'));
    expect(operator.length).toBeGreaterThan(5);
    const leaks = operator.flatMap(([f, deps]) => deps.filter((d) => d.startsWith('gateway/')).map((d) => `${f} -> ${d}`));
    expect(leaks).toEqual([]);
  });
});
