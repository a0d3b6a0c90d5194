/**
 * The compile worker sends the serving thread only the keys that changed (issue #13): the base
 * with the diff applied must be the new config's keys, entry for entry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCompiler, keyText } from '../../src/compile/compile.js';
import { applyKeyDiff, diffKeys } from '../../src/compile/key-diff.js';
import type { CompiledKey } from '../../src/compile/types.js';
import { apiKey, catalog, keySpec } from './random-keys.js';

const compiler = createCompiler();
const NOW = new Date('2026-06-01T00:00:00Z');
const keysOf = (keys: Record<string, unknown>[]) => compiler({ objects: [...catalog(), ...keys], secrets: [] }, { now: NOW }).config.keys;
const texts = (m: ReadonlyMap<string, CompiledKey>) => new Map([...m].map(([h, k]) => [h, keyText(k)]));

// Key i of a list and its spec; two lists overlap where they give index i the same spec.
const indexed = fc.array(fc.tuple(fc.nat({ max: 40 }), keySpec), { maxLength: 20 });
const build = (list: [number, Parameters<typeof apiKey>[0]][]) => [...new Map(list).entries()].map(([i, spec]) => apiKey(spec, i));

describe('key diff', () => {
  it('applied to the previous keys gives the next keys, and names only what changed', () => {
    fc.assert(
      fc.property(indexed, indexed, (a, b) => {
        const previous = keysOf(build(a));
        const next = keysOf(build(b));
        const diff = diffKeys(previous, next);
        const rebuilt = applyKeyDiff(previous, diff);
        expect(texts(rebuilt)).toEqual(texts(next));
        for (const [hash] of diff.changed) expect(keyText(previous.get(hash))).not.toBe(keyText(next.get(hash)));
        for (const hash of diff.removed) expect(next.has(hash)).toBe(false);
        // Unchanged keys keep the objects the serving thread already holds.
        for (const [hash, key] of rebuilt) if (!diff.changed.some(([h]) => h === hash)) expect(key).toBe(previous.get(hash));
      }),
      { numRuns: 60 },
    );
  });

  it('is empty between two compiles of the same input', () => {
    const keys = Array.from({ length: 5 }, (_, i) => apiKey({ namespace: 'team-a', disabled: i === 2 }, i));
    expect(diffKeys(keysOf(keys), keysOf(keys))).toEqual({ changed: [], removed: [] });
  });

  it("sees a change in a Shadow policy's per-model limits (a Map inside the key's shadow part)", () => {
    const keys = [apiKey({ namespace: 'team-a', policies: ['base', 'watch'], disabled: false }, 0)];
    const compile = (tpm: number) => {
      const objects = catalog().map((o) =>
        (o['metadata'] as { name: string; namespace: string }).name === 'watch'
          ? { ...o, spec: { ...(o['spec'] as object), modelRateLimits: [{ model: '*-1', tpm }] } }
          : o,
      );
      return compiler({ objects: [...objects, ...keys], secrets: [] }, { now: NOW }).config;
    };
    const [before, after] = [compile(500), compile(600)];
    expect(after.revision).not.toBe(before.revision);
    expect(diffKeys(before.keys, after.keys).changed).toHaveLength(1);
  });

  it('sees a change in a shared part (a policy) as a change of every key using it', () => {
    const keys = Array.from({ length: 3 }, (_, i) => apiKey({ namespace: 'team-a', policies: ['wide'], disabled: false }, i));
    const before = keysOf(keys);
    const objects = catalog().map((o) =>
      (o['metadata'] as { name: string }).name === 'wide' ? { ...o, spec: { ...(o['spec'] as object), rateLimits: { rpm: 601 } } } : o,
    );
    const after = compiler({ objects: [...objects, ...keys], secrets: [] }, { now: NOW }).config.keys;
    expect(diffKeys(before, after).changed).toHaveLength(3);
  });
});
