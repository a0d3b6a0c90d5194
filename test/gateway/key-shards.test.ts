/**
 * The serving thread's sharded key map (issue #13: a recompile copies only the shards a change
 * falls in). Lookups through it must equal a plain Map of the full key list after any sequence of
 * diffs, and a map already handed to requests must never change when the next one is built.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyShards } from '../../src/gateway/config/key-shards.js';

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string };

// Few distinct keys, so sets overwrite, deletes hit, and several keys share a shard.
const key = fc.oneof(
  fc.integer({ min: 0, max: 600 }).map((n) => `sha256:${n.toString(16).padStart(64, '0')}`),
  fc.string({ maxLength: 6 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);

function expectSame(map: KeyShards<number>, model: ReadonlyMap<string, number>, probes: readonly string[]): void {
  expect(map.size).toBe(model.size);
  expect(new Map(map)).toEqual(model);
  expect([...map.keys()].sort()).toEqual([...model.keys()].sort());
  expect([...map.values()].sort()).toEqual([...model.values()].sort());
  for (const k of probes) {
    expect(map.get(k)).toBe(model.get(k));
    expect(map.has(k)).toBe(model.has(k));
  }
}

describe('KeyShards', () => {
  it('after random diffs, equals a Map of the full key list; every earlier version stays as it was', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 80 }), { minLength: 1, maxLength: 8 }), fc.array(key, { maxLength: 30 }), (diffs, extra) => {
        const versions: { map: KeyShards<number>; model: Map<string, number> }[] = [];
        let map = KeyShards.empty<number>();
        let model = new Map<string, number>();
        for (const diff of diffs) {
          const next = map.edit();
          model = new Map(model);
          for (const o of diff) {
            if (o.kind === 'set') {
              next.set(o.key, o.value);
              model.set(o.key, o.value);
            } else {
              next.delete(o.key);
              model.delete(o.key);
            }
          }
          map = next.build();
          versions.push({ map, model });
        }
        const probes = [...diffs.flat().map((o) => o.key), ...extra];
        for (const v of versions) expectSame(v.map, v.model, probes);
      }),
      { numRuns: 200 },
    );
  });

  it('a change of one key among 100k copies one shard, not the map', () => {
    const first = KeyShards.empty<number>().edit();
    for (let i = 0; i < 100_000; i++) first.set(`sha256:${i}`, i);
    const before = first.build();
    const next = before.edit();
    next.set('sha256:new', -1);
    next.delete('sha256:7');
    // Two shards at most (~400 entries each), where the whole map is 100k.
    expect(next.work).toBeLessThan(2_000);
    const after = next.build();
    expect(after.size).toBe(100_000);
    expect(after.get('sha256:new')).toBe(-1);
    expect(after.has('sha256:7')).toBe(false);
    expect(before.get('sha256:7')).toBe(7);
    expect(before.has('sha256:new')).toBe(false);
    expect(after.get('sha256:99999')).toBe(99_999);
  });

  it('a builder is used once', () => {
    const b = KeyShards.empty<number>().edit();
    b.set('a', 1);
    const built = b.build();
    expect(() => b.set('b', 2)).toThrow(/after build/);
    expect(() => b.build()).toThrow(/twice/);
    expect(built.has('b')).toBe(false);
  });
});
