/**
 * celHolds remembers rules that only test which fields are present (issue #13: ApiKey's credential
 * rule was a third of validating 100k keys). Remembered or not, the outcome is CEL's own.
 */
import { parse } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { celHolds } from '../../src/schema/cel.js';

const direct = (rule: string, self: unknown): unknown => parse(rule)({ self });

const CREDENTIAL_RULE = '(has(self.generate) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.hash) ? 1 : 0) + (has(self.serviceAccount) ? 1 : 0) == 1';
const fieldValue = fc.oneof(fc.constant(null), fc.string({ maxLength: 4 }), fc.constant({ name: 'x' }), fc.constant(true));
const credential = fc.record(
  { generate: fieldValue, secretRef: fieldValue, hash: fieldValue, serviceAccount: fieldValue, other: fieldValue },
  { requiredKeys: [] },
);

describe('celHolds, presence-only rules', () => {
  it('gives what CEL gives for any set of credential fields, null ones included, in any order', () => {
    fc.assert(
      fc.property(fc.array(credential, { minLength: 1, maxLength: 20 }), (selves) => {
        for (const self of selves) expect(celHolds(CREDENTIAL_RULE, self)).toBe(direct(CREDENTIAL_RULE, self));
      }),
      { numRuns: 300 },
    );
  });

  it('does not remember a rule that reads a value: same fields, different outcomes', () => {
    const rule = '!has(self.defaultMaxOutput) || self.defaultMaxOutput <= self.maxOutput';
    expect(celHolds(rule, { defaultMaxOutput: 1, maxOutput: 2 })).toBe(true);
    expect(celHolds(rule, { defaultMaxOutput: 3, maxOutput: 2 })).toBe(false);
    const presence = 'has(self.rpm) || has(self.rpm_x)';
    expect(celHolds(presence, { tpm: 1 })).toBe(false);
    expect(celHolds(presence, { rpm: 1 })).toBe(true);
  });
});
