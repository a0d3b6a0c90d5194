import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PERIODS, periodIds, periodIdsAt, periodTtlSeconds, periodTtlSecondsAt } from '../../src/limits/periods.js';

/** The definitions, from a Date each time (what the day cache must give back). */
function oracle(ms: number): { ids: Record<string, string>; ttl: Record<string, number | undefined> } {
  const d = new Date(ms);
  const iso = d.toISOString();
  const dayEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  const monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return {
    ids: { day: `d${iso.slice(0, 10)}`, month: `m${iso.slice(0, 7)}`, total: 'total' },
    ttl: { day: Math.ceil((dayEnd - ms) / 1000) + 2 * 86_400, month: Math.ceil((monthEnd - ms) / 1000) + 35 * 86_400, total: undefined },
  };
}

describe('periods', () => {
  it('ids and expiries from epoch ms equal the Date forms, across days, months and years in any order', () => {
    const moment = fc.oneof(
      fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
      // Around a month's end, to the millisecond.
      fc.integer({ min: -2000, max: 2000 }).map((d) => Date.UTC(2026, 11, 1) + d),
    );
    fc.assert(
      fc.property(fc.array(moment, { minLength: 1, maxLength: 20 }), (moments) => {
        for (const ms of moments) {
          const want = oracle(ms);
          expect(periodIdsAt(ms)).toEqual(want.ids);
          expect(periodIds(new Date(ms))).toEqual(want.ids);
          for (const p of PERIODS) {
            expect(periodTtlSecondsAt(p, ms)).toBe(want.ttl[p]);
            expect(periodTtlSeconds(p, new Date(ms))).toBe(want.ttl[p]);
          }
        }
      }),
    );
  });

  it('the last millisecond of a month and the first of the next have their own ids and expiries', () => {
    const end = Date.UTC(2026, 11, 1);
    expect(periodIdsAt(end - 1)).toEqual({ day: 'd2026-11-30', month: 'm2026-11', total: 'total' });
    expect(periodTtlSecondsAt('day', end - 1)).toBe(1 + 2 * 86_400);
    expect(periodIdsAt(end)).toEqual({ day: 'd2026-12-01', month: 'm2026-12', total: 'total' });
    expect(periodTtlSecondsAt('month', end)).toBe(31 * 86_400 + 35 * 86_400);
  });
});
