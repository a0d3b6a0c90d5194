/**
 * Keys that share a namespace, policy names and model patterns share one resolved plan per
 * compile (issue #13). Property: each key compiles exactly as it does alone, where no plan is
 * shared with any other key.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCompiler } from '../../src/compile/compile.js';
import { apiKey, catalog, keySpec } from './random-keys.js';

const compiler = createCompiler();
const NOW = new Date('2026-06-01T00:00:00Z');
const compile = (keys: Record<string, unknown>[]) => compiler({ objects: [...catalog(), ...keys], secrets: [] }, { now: NOW });

describe('shared key plans', () => {
  it('give every key the same compiled entry and verdict as compiling it alone', () => {
    fc.assert(
      fc.property(fc.array(keySpec, { minLength: 1, maxLength: 25 }), (specs) => {
        const keys = specs.map(apiKey);
        const together = compile(keys);
        for (const key of keys) {
          const alone = compile([key]);
          const hash = (key['spec'] as { credential: { hash: string } }).credential.hash;
          const name = (key['metadata'] as { name: string }).name;
          expect(together.config.keys.get(hash)).toEqual(alone.config.keys.get(hash));
          const verdict = (r: typeof alone) => r.verdicts.find((v) => v.ref.kind === 'ApiKey' && v.ref.name === name);
          expect(verdict(together)).toEqual(verdict(alone));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('never gives two different policy lists one plan (a name with a newline in it)', () => {
    const odd = apiKey({ namespace: 'team-a', policies: ['base\nwide'], disabled: false }, 1);
    const two = apiKey({ namespace: 'team-a', policies: ['base', 'wide'], disabled: false }, 2);
    const { config, verdicts } = compile([odd, two]);
    expect(verdicts.find((v) => v.ref.name === 'key-1')?.reason).toBe('PolicyNotFound');
    expect([...config.keys.values()].map((k) => k.policies)).toEqual([['base', 'wide']]);
  });

  it('has keys in force that share their plan with others', () => {
    const keys = Array.from({ length: 6 }, (_, i) => apiKey({ namespace: 'team-a', policies: ['base', 'watch'], allowed: ['m-*-1'], disabled: false }, i));
    const { config } = compile(keys);
    const [a, b] = [...config.keys.values()];
    expect(config.keys.size).toBe(6);
    expect(a?.limits).toBe(b?.limits);
    expect(a?.allowedModels).toBe(b?.allowedModels);
    expect([...(a?.allowedModels ?? [])].sort()).toEqual(['m-alpha-1', 'm-beta-1']);
    expect(a?.limits.perModel.get('m-alpha-1')).toEqual({ rpm: 10 });
    expect(a?.shadow?.limits.perModel.get('m-beta-1')).toEqual({ tpm: 500 });
    // Each key its own policies array: a YAML rendering must not show aliases.
    expect(a?.policies).not.toBe(b?.policies);
  });
});
