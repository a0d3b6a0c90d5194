/** The CEL rules' cases through the offline validator (what `tokenhub validate` and compile run). */
import { describe, expect, it } from 'vitest';
import { celHolds } from '../../src/schema/cel.js';
import { ResourceValidator } from '../../src/schema/validate.js';
import { CEL_CASES, declaredRules, messageOf, objectOf } from './cel-cases.js';

describe('CEL rules offline', () => {
  const validator = new ResourceValidator();

  it('every rule the kinds declare has an accepted and a rejected case', () => {
    const covered = (accepted: boolean): Set<string> => new Set(CEL_CASES.filter((c) => c.accepted === accepted).map((c) => `${c.kind}: ${c.rule}`));
    const [ok, bad] = [covered(true), covered(false)];
    expect(declaredRules().length).toBe(11);
    for (const rule of declaredRules()) expect([rule, ok.has(rule), bad.has(rule)]).toEqual([rule, true, true]);
  });

  it.each(CEL_CASES.map((c) => [`${c.kind} ${c.name}`, c] as const))('%s', (_name, c) => {
    const result = validator.validate(objectOf(c));
    if (c.accepted) expect(result).toMatchObject({ ok: true });
    else expect(result.ok ? [] : result.problems.map((p) => p.message)).toEqual([messageOf(c)]);
  });

  it('evaluates CEL, not a look-alike: int arithmetic, macros, and a non-bool result is an error', () => {
    expect(celHolds('self.a + 1 == 3', { a: 2 })).toBe(true);
    expect(celHolds('self.xs.all(x, x > 0) && size(self.xs) == 2', { xs: [1, 2] })).toBe(true);
    expect(() => celHolds('self.a + 1', { a: 1 })).toThrow(/not bool/);
  });
});
