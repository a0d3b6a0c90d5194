/** The single-instance store's own bounds (its semantics are shared with Redis: store-equivalence). */
import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import type { AdmitRequest } from '../../src/limits/store.js';

describe('MemoryLimitStore', () => {
  it('keeps a bounded number of settled ids (regression: every id was kept for a day, the heap grew ~0.5 KB a request)', async () => {
    const store = new MemoryLimitStore();
    const now = Date.UTC(2026, 10, 28, 12);
    for (let i = 0; i < 150_000; i++) {
      const reservation: AdmitRequest = { requestId: `r${i}`, keyId: 'ns/k', rates: [], budgets: [] };
      await store.settle({ reservation, actual: { tokens: 0, costNanos: 0 } }, now + i);
    }
    expect(store.rememberedIds).toBeLessThanOrEqual(100_101);
    expect(store.rememberedIds).toBeGreaterThanOrEqual(99_000);
  });

  it('still ignores a settlement replayed soon after the first', async () => {
    const store = new MemoryLimitStore();
    const now = Date.UTC(2026, 10, 28, 12);
    const reservation: AdmitRequest = { requestId: 'once', keyId: 'ns/k', rates: [], budgets: [] };
    const usage = { requestId: 'once', keyId: 'ns/k', model: 'm', inputTokens: 3, outputTokens: 4, costNanos: 5, at: now };
    await store.settle({ reservation, actual: { tokens: 7, costNanos: 5 }, usage }, now);
    await store.settle({ reservation, actual: { tokens: 7, costNanos: 5 }, usage }, now + 1000);
    expect(await store.usage({ periodId: 'total' })).toEqual([{ keyId: 'ns/k', model: 'm', requests: 1, inputTokens: 3, outputTokens: 4, costNanos: 5 }]);
  });

  it("forgets an id a day after it was settled: its replay then counts again (as the Redis store's window)", async () => {
    const store = new MemoryLimitStore();
    const now = Date.UTC(2026, 10, 28, 12);
    const reservation: AdmitRequest = { requestId: 'old', keyId: 'ns/k', rates: [], budgets: [] };
    const usage = { requestId: 'old', keyId: 'ns/k', model: 'm', inputTokens: 1, outputTokens: 1, costNanos: 0, at: now };
    await store.settle({ reservation, actual: { tokens: 2, costNanos: 0 }, usage }, now);
    for (let i = 0; i < 3000; i++) {
      await store.settle({ reservation: { ...reservation, requestId: `r${i}` }, actual: { tokens: 0, costNanos: 0 } }, now + 1 + i);
    }
    expect(store.rememberedIds).toBe(3001);
    await store.settle({ reservation, actual: { tokens: 2, costNanos: 0 }, usage }, now + 24 * 3600_000 - 1);
    expect(store.rememberedIds).toBe(3001);
    // A day on, the old ids go as settlements come; the first one's replay is applied again.
    await store.settle({ reservation: { ...reservation, requestId: 'later' }, actual: { tokens: 0, costNanos: 0 } }, now + 24 * 3600_000);
    expect(store.rememberedIds).toBe(3001);
    await store.settle({ reservation, actual: { tokens: 2, costNanos: 0 }, usage }, now + 24 * 3600_000 + 10);
    expect((await store.usage({ periodId: 'total' }))[0]?.requests).toBe(2);
  });
});
