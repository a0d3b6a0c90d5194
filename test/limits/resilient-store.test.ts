/**
 * The resilient store with a real redis-server that is SIGKILLed under load and restarted on the
 * same port with its append-only file: pods degrade to their share of the limits, journal what
 * they settle, replay it when Redis is back, and Redis ends up with every settlement exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/limits/create-store.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { budgetId, keyTag, modelTag } from '../../src/limits/plan.js';
import { PartialAdmitError, RedisLimitStore } from '../../src/limits/redis-store.js';
import { ResilientStore, StoreUnavailableError } from '../../src/limits/resilient-store.js';
import type { AdmitRequest, Settlement, UsageRow } from '../../src/limits/store.js';
import { eventually } from '../support/poll.js';
import { freePort, startRedis, type RedisServer } from '../support/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> => eventually(cond, { what, timeoutMs });

const RESERVED_COST = 3000;

function request(id: string, keyId: string, rpm = 1_000_000): AdmitRequest {
  return {
    requestId: id,
    keyId,
    rates: [
      { id: `${keyTag(keyId)}:rpm`, scope: 'key', unit: 'requests', limit: rpm, cost: 1 },
      { id: `${keyTag(keyId)}:tpm`, scope: 'key', unit: 'tokens', limit: 100_000_000, cost: 1000 },
      { id: `${modelTag('gpt-x')}:rpm`, scope: 'model', unit: 'requests', limit: 1_000_000, cost: 1 },
    ],
    budgets: [{ id: budgetId(keyId, 'cost', 'total'), unit: 'cost', period: 'total', limit: 10 ** 15, cost: RESERVED_COST }],
  };
}

function settlement(r: AdmitRequest, i: number): Settlement {
  const input = 10 + (i % 17);
  const output = 5 + (i % 29);
  const cost = (input + output) * 3;
  const usage = { requestId: r.requestId, keyId: r.keyId, model: 'gpt-x', inputTokens: input, outputTokens: output, costNanos: cost, at: Date.now() };
  return { reservation: r, actual: { tokens: input + output, costNanos: cost }, usage };
}

/** What the pods settled, summed per key: the truth Redis must match at the end. */
type Ledger = Map<string, { requests: number; inputTokens: number; outputTokens: number; costNanos: number }>;

/** `concurrency` loops of admit → short pause → settle, until `stop()`. */
function load(pod: ResilientStore, opts: { name: string; keys: string[]; concurrency: number; ledger: Ledger }) {
  let running = true;
  let seq = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const i = seq++;
      const keyId = opts.keys[i % opts.keys.length] as string;
      const r = request(`${opts.name}-${i}`, keyId);
      const res = await pod.admit(r, Date.now());
      if (!res.allowed) continue;
      await sleep(i % 3);
      const s = settlement(r, i);
      await pod.settle(s, Date.now());
      const row = opts.ledger.get(keyId) ?? { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 };
      row.requests++;
      row.inputTokens += s.usage?.inputTokens ?? 0;
      row.outputTokens += s.usage?.outputTokens ?? 0;
      row.costNanos += s.usage?.costNanos ?? 0;
      opts.ledger.set(keyId, row);
    }
  };
  const loops = Array.from({ length: opts.concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

function pod(url: string, opts: Partial<ConstructorParameters<typeof ResilientStore>[0]> = {}): ResilientStore {
  return new ResilientStore({ remote: new RedisLimitStore({ url }), replicas: 2, probeInitialMs: 50, probeMaxMs: 400, ...opts });
}

describe('ResilientStore against a real Redis that dies', () => {
  let redis: RedisServer | undefined;
  const stores: ResilientStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await redis?.stop();
    redis = undefined;
  });

  it('degrades on SIGKILL under load, limits each pod to its share, and replays every settlement exactly once', async () => {
    redis = await startRedis();
    const pods = [pod(redis.url), pod(redis.url)];
    stores.push(...pods);
    const ledger: Ledger = new Map();
    const keys = ['ns/a', 'ns/b', 'ns/c'];
    const loads = pods.map((p, i) => load(p, { name: `pod${i}`, keys, concurrency: 10, ledger }));
    await sleep(300);
    await redis.kill();
    await until('both pods degraded', () => pods.every((p) => p.state() === 'degraded'));
    await sleep(300);
    // Each pod alone admits ceil(10 / 2) of a fresh key's 10 rpm: the fleet stays at 10.
    for (const [i, p] of pods.entries()) {
      const burst = await Promise.all(Array.from({ length: 20 }, (_, j) => p.admit(request(`burst-${i}-${j}`, 'ns/burst', 10), Date.now())));
      expect(burst.filter((r) => r.allowed)).toHaveLength(5);
    }
    expect(pods.every((p) => p.stats().journal > 0)).toBe(true);
    await redis.restart();
    await until('both pods back on Redis', () => pods.every((p) => p.state() === 'redis'));
    await sleep(200);
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(pods.map((p) => p.flush()));

    for (const p of pods) expect(p.stats()).toMatchObject({ state: 'redis', journal: 0, dropped: 0 });
    expect(pods.every((p) => p.stats().replayed > 0 && p.stats().degradedAdmits > 0)).toBe(true);
    // Some settlements went to Redis directly (before the kill, after the restart), the rest by replay.
    const settled = [...ledger.values()].reduce((sum, r) => sum + r.requests, 0);
    expect(settled).toBeGreaterThan(pods[0]!.stats().replayed + pods[1]!.stats().replayed);
    const rows = await pods[0]!.usage({ periodId: 'total' });
    const expected: UsageRow[] = keys.map((k) => ({ keyId: k, model: 'gpt-x', ...ledger.get(k)! }));
    expect(rows).toEqual(expected);
    // Budgets: every settled cost is there; at most the reservations in doubt at the kill
    // (admits whose reply was lost) are counted on top.
    for (const k of keys) {
      const used = await pods[0]!.budgetUsed(budgetId(k, 'cost', 'total'));
      expect(used).toBeGreaterThanOrEqual(ledger.get(k)!.costNanos);
      expect(used - ledger.get(k)!.costNanos).toBeLessThanOrEqual(20 * RESERVED_COST);
    }
  });

  it('fail-closed rejects admits with StoreUnavailableError but still journals settlements', async () => {
    redis = await startRedis();
    const p = pod(redis.url, { mode: 'fail-closed' });
    stores.push(p);
    const r = request('fc-1', 'ns/fc');
    expect((await p.admit(r, Date.now())).allowed).toBe(true);
    await redis.kill();
    await expect(p.admit(request('fc-2', 'ns/fc'), Date.now())).rejects.toThrow(StoreUnavailableError);
    await p.settle(settlement(r, 1), Date.now());
    // fc-1's settlement, and the undo of fc-2's admit (Redis may have made it before dying)
    expect(p.stats()).toMatchObject({ state: 'degraded', journal: 2 });
    await expect(p.usage({ periodId: 'total' })).rejects.toThrow(StoreUnavailableError);
    await redis.restart();
    await until('back on Redis', () => p.state() === 'redis');
    // The replay runs behind the switch back (in settlement batches): wait for it to land.
    await until('journal replayed', () => p.stats().journal === 0 && p.stats().replayed === 2);
    expect(await p.usage({ periodId: 'total' })).toEqual([{ keyId: 'ns/fc', model: 'gpt-x', requests: 1, inputTokens: 11, outputTokens: 6, costNanos: 51 }]);
    expect(await p.budgetUsed(budgetId('ns/fc', 'cost', 'total'))).toBe(51);
  });

  it('journals the refund of a reservation that Redis could not complete, and replays it', async () => {
    redis = await startRedis();
    const real = new RedisLimitStore({ url: redis.url });
    // Redis took the key's reservation, then the next call and the refund failed: what
    // RedisLimitStore reports as a PartialAdmitError when a connection drops between slots.
    const remote = Object.assign(Object.create(real) as RedisLimitStore, {
      admit: async (r: AdmitRequest, now: number) => {
        await real.admit(r, now);
        const refund: Settlement = { reservation: { ...r, requestId: `${r.requestId}:refund` }, actual: { tokens: 0, costNanos: 0 }, failedAttempt: true };
        throw new PartialAdmitError(refund, new Error('Connection is closed.'));
      },
    });
    const p = new ResilientStore({ remote, probeInitialMs: 20 });
    stores.push(p);
    const r = request('partial-1', 'ns/partial');
    expect((await p.admit(r, Date.now())).allowed).toBe(true);
    expect(p.stats().degradedAdmits).toBe(1);
    await until('refund replayed', () => p.state() === 'redis' && p.stats().replayed === 1);
    expect(await real.budgetUsed(budgetId('ns/partial', 'cost', 'total'))).toBe(0);
  });

  it('undoes an admit whose answer was lost once, and only if Redis made it: budgets hold the actual use, no reservation besides', async () => {
    redis = await startRedis();
    const real = new RedisLimitStore({ url: redis.url });
    // 'lost': Redis applied the admit but the reply never came (SIGKILLed after its AOF write);
    // 'unsent': the command never reached Redis. The pod cannot tell the two apart.
    let fault: 'lost' | 'unsent' | undefined;
    const remote = Object.assign(Object.create(real) as RedisLimitStore, {
      admit: async (r: AdmitRequest, now: number) => {
        const f = fault;
        fault = undefined;
        if (f === 'unsent') throw new Error("Stream isn't writeable");
        const res = await real.admit(r, now);
        if (f === 'lost') throw new Error('Connection is closed.');
        return res;
      },
    });
    const p = new ResilientStore({ remote, probeInitialMs: 20 });
    stores.push(p);
    for (const [i, f] of (['lost', 'unsent', undefined] as const).entries()) {
      await until('on Redis', () => p.state() === 'redis');
      fault = f;
      const r = request(`lost-${i}`, 'ns/lost');
      expect((await p.admit(r, Date.now())).allowed).toBe(true);
      await p.settle(settlement(r, 1), Date.now());
    }
    await until('replayed', () => p.state() === 'redis' && p.stats().journal === 0);
    expect(p.stats().degradedAdmits).toBe(2);
    // settlement(r, 1) costs 51: three requests, 153, and nothing of the 3000 each reserved.
    expect(await real.budgetUsed(budgetId('ns/lost', 'cost', 'total'))).toBe(153);
    expect(await real.usage({ periodId: 'total', keyId: 'ns/lost' })).toMatchObject([{ requests: 3, costNanos: 153 }]);
    // Every reservation mark is gone: settled, undone, or never made.
    expect(await real.client.keys('*:r:*')).toEqual([]);
  });

  it('flush waits for a replay under way (the graceful shutdown must not close Redis under it)', async () => {
    redis = await startRedis();
    const real = new RedisLimitStore({ url: redis.url });
    let down = true;
    const remote = Object.assign(Object.create(real) as RedisLimitStore, {
      admit: async (r: AdmitRequest, now: number) => {
        if (down) throw new Error('Connection is closed.');
        return real.admit(r, now);
      },
      // Replays are slow: the journal is empty while they are still on their way.
      settle: async (st: Settlement, now: number) => {
        await sleep(300);
        return real.settle(st, now);
      },
    });
    const p = new ResilientStore({ remote, probeInitialMs: 20 });
    stores.push(p);
    const r = request('flush-1', 'ns/flush');
    expect((await p.admit(r, Date.now())).allowed).toBe(true);
    down = false;
    await p.settle(settlement(r, 1), Date.now());
    await until('replay under way', () => p.state() === 'redis' && p.stats().journal === 0);
    expect(p.stats().replayed).toBe(0);
    await p.flush();
    expect(await real.usage({ periodId: 'total', keyId: 'ns/flush' })).toMatchObject([{ requests: 1, costNanos: 51 }]);
  });

  it('bounds the journal, dropping (and counting) the oldest settlements', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const p = pod(url, { journalLimit: 5, probeInitialMs: 10_000, startupWaitMs: 50 });
    stores.push(p);
    for (let i = 0; i < 8; i++) {
      const r = request(`j-${i}`, 'ns/j');
      expect((await p.admit(r, Date.now())).allowed).toBe(true);
      await p.settle(settlement(r, i), Date.now());
    }
    // 8 settlements and the undo of the first admit, which found no Redis: 9 for 5 places
    expect(p.stats()).toMatchObject({ state: 'degraded', journal: 5, dropped: 4, degradedAdmits: 8 });
    await expect(p.flush()).rejects.toThrow(StoreUnavailableError);
  });
});

describe('createStore', () => {
  it('is the memory store without a Redis URL and the resilient Redis store with one', async () => {
    expect(createStore({})).toBeInstanceOf(MemoryLimitStore);
    const s = createStore({ redisUrl: `redis://127.0.0.1:${await freePort()}`, mode: 'fail-closed', replicas: 3 });
    expect(s).toBeInstanceOf(ResilientStore);
    expect((s as ResilientStore).mode).toBe('fail-closed');
    await s.close();
  });
});
