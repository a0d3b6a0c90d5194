/**
 * The config's revision (issue #13 made it cheaper: keys in compile's own order, the text keys
 * share hashed once and named by number). Two compiles of the same models get the same revision
 * exactly when their keys are the same, in the same order, entry for entry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCompiler, keyText } from '../../src/compile/compile.js';
import { apiKey, catalog, keySpec } from './random-keys.js';

const compiler = createCompiler();
const NOW = new Date('2026-06-01T00:00:00Z');
const configOf = (keys: Record<string, unknown>[]) => compiler({ objects: [...catalog(), ...keys], secrets: [] }, { now: NOW }).config;
const indexed = fc.array(fc.tuple(fc.nat({ max: 12 }), keySpec), { maxLength: 10 });
const build = (list: [number, Parameters<typeof apiKey>[0]][]) => [...new Map(list).entries()].map(([i, spec]) => apiKey(spec, i));

describe('revision', () => {
  it('is equal exactly when the keys are (same hashes, same texts, same order)', () => {
    fc.assert(
      fc.property(indexed, indexed, (a, b) => {
        const [x, y] = [configOf(build(a)), configOf(build(b))];
        const same = JSON.stringify([...x.keys].map(([h, k]) => [h, keyText(k)])) === JSON.stringify([...y.keys].map(([h, k]) => [h, keyText(k)]));
        expect(x.revision === y.revision).toBe(same);
      }),
      { numRuns: 150 },
    );
  });

  it('changes when two keys swap their policies (each shared text is named by number)', () => {
    const a = [
      apiKey({ namespace: 'team-a', policies: ['base'], disabled: false }, 0),
      apiKey({ namespace: 'team-a', policies: ['wide'], disabled: false }, 1),
    ];
    const b = [
      apiKey({ namespace: 'team-a', policies: ['wide'], disabled: false }, 0),
      apiKey({ namespace: 'team-a', policies: ['base'], disabled: false }, 1),
    ];
    const [x, y] = [configOf(a), configOf(b)];
    expect([...x.keys.values()].map((k) => k.limits)).not.toEqual([...y.keys.values()].map((k) => k.limits));
    expect(x.revision).not.toBe(y.revision);
  });

  it('changes when a key moves to another shared part that is already in the config', () => {
    // Same policies and own fields; only the third key's allowed models (its shared part) move.
    const keys = (third: string[]) =>
      [['m-alpha-1'], ['m-*-1'], third].map((allowed, i) => apiKey({ namespace: 'team-a', policies: ['base'], allowed, disabled: false }, i));
    const [x, y] = [configOf(keys(['m-alpha-1'])), configOf(keys(['m-*-1']))];
    expect([...x.keys.values()][2]?.allowedModels).not.toEqual([...y.keys.values()][2]?.allowedModels);
    expect(x.revision).not.toBe(y.revision);
  });
});
