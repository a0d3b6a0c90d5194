/**
 * Model patterns cannot hang (issue #11): a 40-star pattern used to take V8's backtracking
 * RegExp minutes per model id; the two-pointer matcher answers in microseconds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile/compile.js';
import { PatternIndex, matchGlob } from '../../src/compile/globs.js';
import { MAX_PATTERN_STARS } from '../../src/schema/common.js';
import { ResourceValidator } from '../../src/schema/validate.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const EVIL = `${'*'.repeat(40)}X`;
const LONG_ID = 'doubao-seed-2-0-pro-260215-'.repeat(4);

function route(model: string): unknown {
  return {
    apiVersion: 'tokenhub.io/v1alpha1',
    kind: 'ModelRoute',
    metadata: {
      name: model
        .slice(0, 40)
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/-$/, ''),
      namespace: 'default',
    },
    spec: {
      model,
      capabilities: ['text'],
      limits: { contextWindow: 1000, maxInput: 1000, maxOutput: 100 },
      backends: [{ name: 'a', baseURL: 'http://upstream.invalid/v1' }],
    },
  };
}

function key(name: string, allowedModels: string[]): unknown {
  return {
    apiVersion: 'tokenhub.io/v1alpha1',
    kind: 'ApiKey',
    metadata: { name, namespace: 'default' },
    spec: { credential: { hash: `sha256:${name.length.toString(16).padStart(64, '0')}` }, allowedModels },
  };
}

/** The old RegExp translation, as the reference for what a pattern means (on small inputs only). */
function reference(glob: string, name: string): boolean {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`).test(name);
}

describe('matchGlob', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['doubao-*', 'doubao-seed', true],
    ['doubao-*', 'dou', false],
    ['*-lite-*', 'doubao-seed-2-0-lite-260215', true],
    ['?', 'a', true],
    ['?', '', false],
    ['a?c', 'abc', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['a.b', 'aXb', false],
  ])('%s ~ %s → %s', (pattern, name, expected) => {
    expect(matchGlob(pattern, name)).toBe(expected);
  });

  it('agrees with the RegExp meaning on random patterns and names', () => {
    const alphabet = fc.constantFrom('a', 'b', '-', '.');
    const patternChar = fc.constantFrom('a', 'b', '-', '.', '*', '?');
    fc.assert(
      fc.property(fc.array(patternChar, { maxLength: 8 }), fc.array(alphabet, { maxLength: 10 }), (p, n) => {
        expect(matchGlob(p.join(''), n.join(''))).toBe(reference(p.join(''), n.join('')));
      }),
      { numRuns: 2000 },
    );
  });

  it('answers a 40-star pattern against long ids in milliseconds', () => {
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(matchGlob(EVIL, LONG_ID)).toBe(false);
    expect(matchGlob(EVIL, `${LONG_ID}X`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe('patterns in manifests', () => {
  it(`rejects a pattern with more than ${MAX_PATTERN_STARS} stars, quickly`, () => {
    const validator = new ResourceValidator();
    const started = performance.now();
    const result = validator.validate(key('evil', [EVIL]));
    expect(result.ok).toBe(false);
    expect(validator.validate(key('ok', ['*'.repeat(MAX_PATTERN_STARS)])).ok).toBe(true);
    expect(validator.validate(key('ok', [`a${'*'.repeat(MAX_PATTERN_STARS)}`])).ok).toBe(true);
    expect(validator.validate(key('ok', [`a${'*'.repeat(MAX_PATTERN_STARS + 1)}`])).ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('compiles a 40-star key in milliseconds: InvalidSpec, and the rest of the config still serves', () => {
    const started = performance.now();
    const result = compile({ objects: [route(LONG_ID), key('evil', [EVIL]), key('good', ['doubao-*'])], secrets: [] }, { now: NOW });
    expect(performance.now() - started).toBeLessThan(1000);
    const evil = result.verdicts.find((v) => v.ref.name === 'evil');
    expect(evil).toMatchObject({ ready: false, reason: 'InvalidSpec' });
    expect([...result.config.keys.values()].map((k) => k.id)).toEqual(['default/good']);
  });

  it('compiles many keys at the star cap against many models quickly', () => {
    const routes = Array.from({ length: 50 }, (_, i) => route(`model-${i}-${'x'.repeat(60)}`));
    const worst = `${'*x'.repeat(MAX_PATTERN_STARS)}Q`;
    const keys = Array.from({ length: 200 }, (_, i) => key(`k${i}`.padEnd(8, 'k'), [worst, 'model-1*']));
    const started = performance.now();
    const result = compile({ objects: [...routes, ...keys], secrets: [] }, { now: NOW });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(result.verdicts.filter((v) => v.ref.kind === 'ModelRoute' && v.ready)).toHaveLength(50);
  });
});

describe('PatternIndex', () => {
  it('scans the models once per distinct pattern', () => {
    let scans = 0;
    const models = [
      { id: 'a-1', aliases: [] },
      { id: 'b-1', aliases: ['a-alias'] },
    ].map((m) => ({
      get id(): string {
        scans++;
        return m.id;
      },
      aliases: m.aliases,
    }));
    const index = new PatternIndex(models);
    for (let i = 0; i < 1000; i++) expect(index.select('a-*').size).toBe(2);
    expect(scans).toBe(2);
  });
});
