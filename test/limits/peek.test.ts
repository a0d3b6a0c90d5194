/**
 * peek: what a key holder's `GET /key` reads. Both stores (memory, and a real Redis with its
 * Lua on the caller's clock) report exactly what admit would, before and after admits and a
 * settlement, and a peek changes nothing: the next admit's answer is the same as without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { keyTag, modelTag } from '../../src/limits/plan.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import { ResilientStore, StoreUnavailableError } from '../../src/limits/resilient-store.js';
import type { AdmitRequest, LimitStore, RateCheck } from '../../src/limits/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const rates: RateCheck[] = [
  { id: `${keyTag('ns/a')}:rpm`, scope: 'key', unit: 'requests', limit: 6, cost: 1 },
  { id: `${keyTag('ns/a')}:tpm`, scope: 'key', unit: 'tokens', limit: 1000, cost: 300 },
  { id: `${keyTag('ns/a')}:m:x:rpm`, scope: 'key-model', unit: 'requests', limit: 3, cost: 1 },
  { id: `${modelTag('x')}:rpm`, scope: 'model', unit: 'requests', limit: 60, cost: 1 },
];
const req = (id: string): AdmitRequest => ({ requestId: id, keyId: 'ns/a', rates, budgets: [] });
const view = async (store: LimitStore, at: number) => (await store.peek(rates, at)).map((s) => [s.check.id, s.remaining, Math.round(s.resetMs)]);

let redis: RedisServer;
let redisStore: RedisLimitStore;
/** One store of each kind for the whole file: the tests below follow one timeline. */
const memoryStore = new MemoryLimitStore();

beforeAll(async () => {
  redis = await startRedis();
  redisStore = new RedisLimitStore({ url: redis.url, clock: 'caller' });
  expect(await redisStore.ready(5000)).toBe(true);
});
afterAll(async () => {
  await redisStore?.close();
  await redis?.stop();
});

describe.each([
  ['memory', () => memoryStore],
  ['redis', () => redisStore],
] as const)('peek on the %s store', (_name, make) => {
  it('reports full limits for counters never used, and writes nothing', async () => {
    const store = make();
    expect(await view(store, T0)).toEqual([
      [rates[0]?.id, 6, 0],
      [rates[1]?.id, 1000, 0],
      [rates[2]?.id, 3, 0],
      [rates[3]?.id, 60, 0],
    ]);
    if (store instanceof RedisLimitStore) expect(await store.client.exists(...rates.map((r) => r.id))).toBe(0);
  });

  it('after two admits, says what admit said, and a peek does not move any counter', async () => {
    const store = make();
    await store.admit(req('p1'), T0);
    const second = await store.admit(req('p2'), T0);
    expect(second.allowed).toBe(true);
    const peeked = await store.peek(rates, T0);
    expect(peeked.map((s) => s.remaining)).toEqual(second.rates.map((s) => s.remaining));
    expect(peeked.map((s) => s.remaining)).toEqual([4, 400, 1, 58]);
    // Peeking many times changes nothing: the third admit still passes and the fourth still fails on the tpm.
    for (let i = 0; i < 5; i++) await store.peek(rates, T0);
    expect((await store.admit(req('p3'), T0)).allowed).toBe(true);
    const fourth = await store.admit(req('p4'), T0);
    expect(fourth.allowed).toBe(false);
    expect(fourth.allowed === false && fourth.denial.kind === 'rate' ? fourth.denial.check.id : '').toBe(rates[1]?.id);
  });

  it('refills with time exactly as GCRA does: 10 s later an rpm-6 limit has one more request', async () => {
    const store = make();
    const states = await store.peek(rates, T0 + 10_000);
    // Three requests admitted at T0 (the fourth was denied): rpm 6 used 30 s of its 60 s window.
    expect(states[0]?.remaining).toBe(4);
    expect(states[0]?.resetMs).toBe(20_000);
    expect(states[2]?.remaining).toBe(0); // rpm 3 refills one request per 20 s
    expect(states[2]?.resetMs).toBe(50_000);
    expect(await view(store, T0 + 61_000)).toEqual([
      [rates[0]?.id, 6, 0],
      [rates[1]?.id, 1000, 0],
      [rates[2]?.id, 3, 0],
      [rates[3]?.id, 60, 0],
    ]);
  });
});

describe('peek on the resilient store', () => {
  const closedURL = async (): Promise<string> => {
    const dead = await startRedis();
    await dead.stop();
    return dead.url;
  };

  it('reads Redis while it is there', async () => {
    const store = new ResilientStore({ remote: new RedisLimitStore({ url: redis.url, clock: 'caller' }), replicas: 2 });
    try {
      // The Redis timeline of the tests above: three admits of 300 tokens at T0.
      expect((await store.peek(rates, T0 + 10_000)).map((s) => s.remaining)).toEqual([4, 266, 0, 60]);
    } finally {
      await store.close();
    }
  });

  it('without Redis, fail-open answers what this pod may still admit (its share); fail-closed refuses', async () => {
    const url = await closedURL();
    const open = new ResilientStore({ remote: new RedisLimitStore({ url }), replicas: 2, startupWaitMs: 200 });
    const closed = new ResilientStore({ remote: new RedisLimitStore({ url }), replicas: 2, mode: 'fail-closed', startupWaitMs: 200 });
    try {
      expect((await open.peek(rates, T0)).map((s) => s.remaining)).toEqual([3, 500, 2, 30]);
      await expect(closed.peek(rates, T0)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await open.close();
      await closed.close();
    }
  });
});
