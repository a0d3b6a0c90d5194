/** The validator's document copy (issue #13: structuredClone was half of validation): the same result, faster. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyData } from '../../src/schema/json-copy.js';

describe('copyData', () => {
  it('copies any JSON value like structuredClone, sharing nothing with the original', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = copyData(value);
        expect(copy).toStrictEqual(structuredClone(value));
        if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps an own "__proto__" key a key, never the prototype', () => {
    const value = JSON.parse('{"spec":{"__proto__":{"polluted":true},"a":1}}') as { spec: Record<string, unknown> };
    const copy = copyData(value);
    expect(Object.getPrototypeOf(copy.spec)).toBe(Object.prototype);
    expect(Object.keys(copy.spec)).toEqual(['__proto__', 'a']);
    expect((copy.spec as { polluted?: boolean }).polluted).toBeUndefined();
    expect(copy).toStrictEqual(structuredClone(value));
  });

  it('copies what is not plain data (a YAML timestamp as a Date) as structuredClone did', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const copy = copyData({ at, list: [at] });
    expect(copy.at).toEqual(at);
    expect(copy.at).not.toBe(at);
  });

  it('changing the copy leaves the original as it was', () => {
    const original = { spec: { list: [{ a: 1 }] } };
    const copy = copyData(original);
    (copy.spec.list[0] as { a: number }).a = 2;
    expect(original.spec.list[0]?.a).toBe(1);
  });
});
