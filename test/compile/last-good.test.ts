/** compileKeepingLastGood: a change compile rejects never replaces an object's last good version. */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createCompiler } from '../../src/compile/compile.js';
import { type LastGood, compileKeepingLastGood, lastGoodRecordOf, withRecordedLastGood } from '../../src/compile/last-good.js';
import { compileInputOf } from '../../src/manifests/check.js';
import { keyYaml, modelYaml } from '../support/gateway.js';

const compiler = createCompiler();
const now = new Date('2026-06-01T00:00:00Z');
const MOCK = 'http://127.0.0.1:9/v1';
const BASE = modelYaml({ name: 'alpha', baseURL: MOCK }) + modelYaml({ name: 'beta', baseURL: MOCK }) + keyYaml({ name: 'k', clear: 'th-k' });

function step(yaml: string, lastGood: LastGood) {
  const objects = parseAllDocuments(yaml)
    .map((d) => d.toJS() as unknown)
    .filter((o) => o !== null);
  return compileKeepingLastGood(compiler, compileInputOf(objects, 'default'), { now, lastGood });
}

const verdictOf = (r: ReturnType<typeof step>, name: string) => r.verdicts.find((v) => v.ref.name === name);
const good = step(BASE, new Map());

describe('compileKeepingLastGood', () => {
  it('starts from a config where everything is in force', () => {
    expect(good.config.modelIds).toEqual(['alpha', 'beta']);
    expect(good.heldBack).toEqual([]);
  });

  it('keeps a route that now falls back to a missing model serving as it was (FallbackNotFound)', () => {
    const r = step(BASE.replace('model: beta', 'model: beta\n  fallbackModels: [gone]'), good.lastGood);
    expect(r.config.modelIds).toEqual(['alpha', 'beta']);
    expect(r.config.models.get('beta')?.fallbackChain).toEqual([]);
    expect(verdictOf(r, 'beta')).toMatchObject({ ready: false, reason: 'FallbackNotFound' });
    expect(verdictOf(r, 'beta')?.message).toMatch(/last good version stays in force/);
    expect(r.heldBack).toEqual(['ModelRoute/default/beta']);
  });

  it('keeps a route that now claims a model id another route serves on its old id (ModelConflict)', () => {
    const r = step(BASE.replace('model: beta', 'model: alpha'), good.lastGood);
    expect(r.config.modelIds).toEqual(['alpha', 'beta']);
    expect(verdictOf(r, 'beta')).toMatchObject({ ready: false, reason: 'ModelConflict' });
  });

  it('keeps the last good version over a bad spec, and takes the fix when it comes', () => {
    const bad = step(BASE.replaceAll('maxOutput: 1024', 'maxOutput: -1'), good.lastGood);
    expect(bad.config.modelIds).toEqual(['alpha', 'beta']);
    expect(bad.verdicts.filter((v) => v.reason === 'InvalidSpec')).toHaveLength(2);
    const fixed = step(BASE.replace('model: beta', 'model: beta\n  fallbackModels: [alpha]'), bad.lastGood);
    expect(fixed.config.models.get('beta')?.fallbackChain).toEqual(['alpha']);
    expect(fixed.heldBack).toEqual([]);
  });

  it('puts a disabled key in force: disabling is the change asked for', () => {
    const r = step(BASE.replace('credential:', 'disabled: true\n  credential:'), good.lastGood);
    expect([...r.config.keys.values()][0]?.disabled).toBe(true);
    expect(r.heldBack).toEqual([]);
  });

  it('rejects a new object that was never good, and holds back nothing for an unchanged one', () => {
    const dup = step(BASE + modelYaml({ name: 'gamma', baseURL: MOCK }).replace('model: gamma', 'model: alpha'), good.lastGood);
    expect(verdictOf(dup, 'gamma')).toMatchObject({ ready: false, reason: 'ModelConflict' });
    expect(dup.heldBack).toEqual([]);
    // beta unchanged, but its fallback goes away: nothing of beta's own to hold back.
    const withFallback = step(BASE.replace('model: beta', 'model: beta\n  fallbackModels: [alpha]'), good.lastGood);
    const alphaGone = step(modelYaml({ name: 'beta', baseURL: MOCK, fallback: ['alpha'] }) + keyYaml({ name: 'k', clear: 'th-k' }), withFallback.lastGood);
    expect(alphaGone.heldBack).toEqual([]);
    expect(verdictOf(alphaGone, 'beta')?.message).not.toMatch(/last good/);
  });
});

describe('the last good version recorded in the cluster (status.lastGood)', () => {
  const parse = (yaml: string) =>
    parseAllDocuments(yaml)
      .map((d) => d.toJS() as unknown)
      .filter((o) => o !== null);
  const broken = BASE.replace('model: beta', 'model: beta\n  fallbackModels: [gone]');

  it('is the kept spec of a held-back object, nothing for one in force', () => {
    const r = step(broken, good.lastGood);
    const objects = parse(broken) as { kind: string; metadata: { name: string } }[];
    const beta = objects.find((o) => o.metadata.name === 'beta');
    const alpha = objects.find((o) => o.metadata.name === 'alpha');
    const record = lastGoodRecordOf(r.lastGood.get('ModelRoute/default/beta'), beta);
    expect(record?.spec).toMatchObject({ model: 'beta' });
    expect(record?.spec).not.toHaveProperty('fallbackModels');
    expect(lastGoodRecordOf(r.lastGood.get('ModelRoute/default/alpha'), alpha)).toBeUndefined();
  });

  it('lets a pod with no memory hold back to the recorded version, and wins over a different memory', () => {
    const objects = parse(broken) as Record<string, unknown>[];
    const record = lastGoodRecordOf(
      step(broken, good.lastGood).lastGood.get('ModelRoute/default/beta'),
      objects.find((o) => (o['metadata'] as { name: string }).name === 'beta'),
    );
    const withStatus = objects.map((o) => ((o['metadata'] as { name: string }).name === 'beta' ? { ...o, status: { lastGood: record } } : o));
    const fresh = compileKeepingLastGood(compiler, compileInputOf(withStatus, 'default'), {
      now,
      lastGood: withRecordedLastGood(new Map(), withStatus, 'default'),
    });
    expect(fresh.config.modelIds).toEqual(['alpha', 'beta']);
    expect(fresh.heldBack).toEqual(['ModelRoute/default/beta']);
    // A pod without the record rejects the route: what the fleet disagreed on before.
    expect(compileKeepingLastGood(compiler, compileInputOf(objects, 'default'), { now, lastGood: new Map() }).config.modelIds).toEqual(['alpha']);
    // A memory of some other version loses to the record.
    const other = step(BASE.replace('maxOutput: 1024', 'maxOutput: 512'), new Map()).lastGood;
    const merged = withRecordedLastGood(other, withStatus, 'default');
    expect((merged.get('ModelRoute/default/beta') as { spec: unknown }).spec).toEqual(record?.spec);
  });

  it('ignores a record without a spec object', () => {
    const objects = [{ kind: 'ModelRoute', metadata: { name: 'x' }, spec: {}, status: { lastGood: { spec: 'nope' } } }];
    expect(withRecordedLastGood(new Map(), objects).size).toBe(0);
  });
});
