/** status.usage from usage rows and budget counters: sums, the tightest remaining budget, stable times. */
import { describe, expect, it } from 'vitest';
import { remaining, usageStatus, withStableTime } from '../../src/operator/usage/report.js';

const row = (model: string, n: number) => ({ keyId: 'ns/k', model, requests: n, inputTokens: 100 * n, outputTokens: 10 * n, costNanos: 1_000_000 * n });
const now = new Date('2026-11-28T12:00:00.500Z');

describe('usage report', () => {
  it('sums the month over models and reports the tightest remaining budget', () => {
    const status = usageStatus({
      period: 'm2026-11',
      rows: [row('a', 1), row('b', 2)],
      now,
      budgets: { tokens: { day: 1000 }, costNanos: { month: 500e9, total: 10e9 } },
      used: { tokens: { day: 1200 }, cost: { month: 3e6, total: 9.5e9 } },
    });
    expect(status).toEqual({
      period: 'm2026-11',
      requests: 3,
      inputTokens: 300,
      outputTokens: 30,
      cost: '0.003',
      remainingTokens: '0',
      remainingCost: '0.50',
      updatedAt: '2026-11-28T12:00:00Z',
    });
  });

  it('leaves remaining* out for unlimited budgets', () => {
    expect(remaining({}, {})).toBeUndefined();
    const status = usageStatus({ period: 'm2026-11', rows: [], now, budgets: { tokens: {}, costNanos: {} }, used: { tokens: {}, cost: {} } });
    expect(status).not.toHaveProperty('remainingCost');
    expect(status).not.toHaveProperty('remainingTokens');
    expect(status.cost).toBe('0.00');
  });

  it('keeps the previous updatedAt when nothing else moved', () => {
    const a = { period: 'm', requests: 1, cost: '0.01', updatedAt: 'earlier' };
    expect(withStableTime(a, { ...a, updatedAt: 'now' }).updatedAt).toBe('earlier');
    expect(withStableTime(a, { ...a, requests: 2, updatedAt: 'now' }).updatedAt).toBe('now');
    expect(withStableTime(undefined, { ...a, updatedAt: 'now' }).updatedAt).toBe('now');
  });
});
