/** The Redis store against a real redis-server: atomicity, concurrency bounds, idempotency, periods. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { periodId, periodTtlSeconds } from '../../src/limits/periods.js';
import { budgetId, keyTag, modelTag } from '../../src/limits/plan.js';
import { RedisLimitStore, usageIndexKey, usageKey } from '../../src/limits/redis-store.js';
import type { AdmitRequest, BudgetCheck, RateCheck } from '../../src/limits/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const rpm = (id: string, limit: number, scope: RateCheck['scope'] = 'key'): RateCheck => ({ id: `${id}:rpm`, scope, unit: 'requests', limit, cost: 1 });
const tpm = (id: string, limit: number, cost: number, scope: RateCheck['scope'] = 'key'): RateCheck => ({
  id: `${id}:tpm`,
  scope,
  unit: 'tokens',
  limit,
  cost,
});

function dayTokens(keyId: string, limit: number, cost: number): BudgetCheck {
  const now = new Date();
  return { id: budgetId(keyId, 'tokens', periodId('day', now)), unit: 'tokens', period: 'day', limit, cost, ttlSeconds: periodTtlSeconds('day', now) ?? 0 };
}

const req = (keyId: string, rates: RateCheck[], budgets: BudgetCheck[] = []): AdmitRequest => ({ requestId: randomUUID(), keyId, rates, budgets });

/** A fixed moment for the tests that read remaining capacity: Redis's clock would refill it. */
const T = 1_800_000_000_000;

describe('RedisLimitStore', () => {
  let redis: RedisServer;
  let store: RedisLimitStore;
  let fixed: RedisLimitStore;
  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisLimitStore({ url: redis.url });
    fixed = new RedisLimitStore({ url: redis.url, clock: 'caller' });
    await Promise.all([store.ready(), fixed.ready()]);
  });
  afterAll(async () => {
    await Promise.all([store?.close(), fixed?.close()]);
    await redis?.stop();
  });
  beforeEach(async () => {
    await store.client.flushall();
  });

  it('denies all-or-nothing: a denied check reserves nothing, in any slot', async () => {
    const k = keyTag('ns/a');
    const budget = dayTokens('ns/a', 1000, 100);
    // tpm 250 admits two of 100; the third is denied by tpm and must not touch rpm or the budget.
    const mk = (): AdmitRequest => req('ns/a', [rpm(k, 10), tpm(k, 250, 100)], [budget]);
    expect((await fixed.admit(mk(), T)).allowed).toBe(true);
    expect((await fixed.admit(mk(), T)).allowed).toBe(true);
    const denied = await fixed.admit(mk(), T);
    expect(denied.allowed).toBe(false);
    if (!denied.allowed) expect(denied.denial).toMatchObject({ kind: 'rate', check: { id: `${k}:tpm` } });
    expect(await store.budgetUsed(budget.id)).toBe(200);
    const probe = await fixed.admit(req('ns/a', [rpm(k, 10)]), T);
    expect(probe.rates[0]?.remaining).toBe(7);
  });

  it('refunds the key when the fleet-wide model limit denies (a second slot)', async () => {
    const k = keyTag('ns/a');
    const m = modelTag('gpt-x');
    const budget = dayTokens('ns/a', 10_000, 300);
    const mk = (): AdmitRequest => req('ns/a', [rpm(k, 10), tpm(k, 10_000, 300), rpm(m, 2, 'model')], [budget]);
    expect((await fixed.admit(mk(), T)).allowed).toBe(true);
    expect((await fixed.admit(mk(), T)).allowed).toBe(true);
    const denied = await fixed.admit(mk(), T);
    expect(denied.allowed).toBe(false);
    if (!denied.allowed) expect(denied.denial).toMatchObject({ kind: 'rate', check: { scope: 'model' } });
    // Only the two admitted requests hold anything on the key.
    expect(await store.budgetUsed(budget.id)).toBe(600);
    const probe = await fixed.admit(req('ns/a', [rpm(k, 10), tpm(k, 10_000, 0)]), T);
    expect(probe.rates.map((r) => r.remaining)).toEqual([7, 10_000 - 600]);
  });

  it('admits exactly the limit under 200 concurrent admits from several pods', async () => {
    const pods = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const s = new RedisLimitStore({ url: redis.url });
        await s.ready();
        return s;
      }),
    );
    const k = keyTag('ns/burst');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pods[i % 4]!.admit(req('ns/burst', [rpm(k, 50)]), 0)));
    expect(results.filter((r) => r.allowed)).toHaveLength(50);
    // Tokens: 1000 reserved per request against 10k tpm → 10; settling at 400 frees 6 more.
    const t = keyTag('ns/tokens');
    const mk = (): AdmitRequest => req('ns/tokens', [tpm(t, 10_000, 1000)]);
    const batch = await Promise.all(
      Array.from({ length: 200 }, (_, i) => ({ r: mk(), pod: pods[i % 4]! })).map(async ({ r, pod }) => ({ r, res: await pod.admit(r, 0) })),
    );
    const admitted = batch.filter((b) => b.res.allowed);
    expect(admitted).toHaveLength(10);
    await Promise.all(admitted.map(({ r }) => store.settle({ reservation: r, actual: { tokens: 400, costNanos: 0 } }, 0)));
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => pods[i % 4]!.admit(mk(), 0)));
    expect(again.filter((r) => r.allowed)).toHaveLength(6);
    await Promise.all(pods.map((p) => p.close()));
  });

  it('overshoots a budget by less than one reservation under concurrency (the stated bound)', async () => {
    const budget = dayTokens('ns/budget', 5000, 700);
    const results = await Promise.all(Array.from({ length: 100 }, () => store.admit(req('ns/budget', [], [budget]), 0)));
    const admitted = results.filter((r) => r.allowed).length;
    const used = await store.budgetUsed(budget.id);
    expect(admitted).toBe(8);
    expect(used).toBe(admitted * 700);
    expect(used - budget.limit).toBeGreaterThan(0);
    expect(used - budget.limit).toBeLessThan(budget.cost);
  });

  it('settles idempotently: a replayed settlement changes nothing', async () => {
    const k = keyTag('ns/idem');
    const budget = dayTokens('ns/idem', 100_000, 2000);
    const r = req('ns/idem', [tpm(k, 60_000, 2000)], [budget]);
    expect((await store.admit(r, 0)).allowed).toBe(true);
    const at = Date.now();
    const usage = { requestId: r.requestId, keyId: 'ns/idem', model: 'gpt-x', inputTokens: 300, outputTokens: 200, costNanos: 12_345, at };
    const s = { reservation: r, actual: { tokens: 500, costNanos: 12_345 }, usage };
    await store.settle(s, 0);
    const before = { used: await store.budgetUsed(budget.id), usage: await store.usage({ periodId: periodId('day', new Date(at)) }) };
    await Promise.all([store.settle(s, 0), store.settle(s, 0)]);
    expect(before.used).toBe(500);
    expect(await store.budgetUsed(budget.id)).toBe(500);
    expect(await store.usage({ periodId: periodId('day', new Date(at)) })).toEqual(before.usage);
    expect(before.usage).toEqual([{ keyId: 'ns/idem', model: 'gpt-x', requests: 1, inputTokens: 300, outputTokens: 200, costNanos: 12_345 }]);
  });

  it('keys budgets and usage by period id, with expiry for days and months and none for totals', async () => {
    const now = new Date();
    const dayTtl = periodTtlSeconds('day', now) ?? 0;
    const budgets: BudgetCheck[] = [
      dayTokens('ns/p', 10_000, 100),
      { id: budgetId('ns/p', 'cost', 'total'), unit: 'cost', period: 'total', limit: 10 ** 12, cost: 5000 },
    ];
    const r = req('ns/p', [], budgets);
    expect((await store.admit(r, 0)).allowed).toBe(true);
    const usage = { requestId: r.requestId, keyId: 'ns/p', model: 'm|with-bar', inputTokens: 1, outputTokens: 2, costNanos: 3, at: now.getTime() };
    await store.settle({ reservation: r, actual: { tokens: 3, costNanos: 3 }, usage }, 0);
    expect(await store.client.ttl(budgets[0]!.id)).toBeGreaterThan(dayTtl - 10);
    expect(await store.client.ttl(budgets[0]!.id)).toBeLessThanOrEqual(dayTtl);
    expect(await store.client.ttl(budgets[1]!.id)).toBe(-1);
    expect(await store.budgetUsed(budgets[1]!.id)).toBe(3);
    for (const p of ['day', 'month', 'total'] as const) {
      const pid = periodId(p, now);
      expect(await store.client.sismember(usageIndexKey(pid), 'ns/p')).toBe(1);
      expect(await store.client.ttl(usageKey('ns/p', pid))).toSatisfy((t: number) => (p === 'total' ? t === -1 : t > 86_400));
      expect(await store.usage({ periodId: pid })).toEqual([
        { keyId: 'ns/p', model: 'm|with-bar', requests: 1, inputTokens: 1, outputTokens: 2, costNanos: 3 },
      ]);
    }
    await store.credit(budgets[1]!.id, 10);
    expect(await store.budgetUsed(budgets[1]!.id)).toBe(-7);
  });

  it('uses Redis time, so a caller with a skewed clock cannot reset a limit', async () => {
    const k = keyTag('ns/clock');
    expect((await store.admit(req('ns/clock', [rpm(k, 1)]), 0)).allowed).toBe(true);
    expect((await store.admit(req('ns/clock', [rpm(k, 1)]), Date.now() + 3_600_000)).allowed).toBe(false);
  });

  it('rejects fractional budget amounts before Redis sees them', async () => {
    await expect(store.admit(req('ns/x', [], [dayTokens('ns/x', 10, 0.5)]), 0)).rejects.toThrow(RangeError);
  });
});
