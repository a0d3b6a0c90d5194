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
});
