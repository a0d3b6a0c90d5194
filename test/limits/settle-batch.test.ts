/**
 * Admission in one round trip and settlement in batches, against a real redis-server (issue
 * #13): every admit is one script call; N concurrent settlements from two stores (two gateway
 * pods) on one Redis go as a handful of batched calls and end with exact counters; a store
 * closed right after a burst sends what it held back first.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/limits/create-store.js';
import { budgetId, keyTag, modelTag } from '../../src/limits/plan.js';
import { REPLAY_WINDOW_S, RedisLimitStore } from '../../src/limits/redis-store.js';
import { type BatchEntry, SettleBatcher, encodeBatch } from '../../src/limits/settle-batch.js';
import type { AdmitRequest, LimitStore, Settlement, UsageRow } from '../../src/limits/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { storeEnv } from '../../src/gateway/store-env.js';

/** A fixed moment: TATs then show exactly what was reserved and settled. */
const T = 1_800_000_000_000;
const KEY = 'team-a/app';
const MODEL = 'gpt-x';
const TPM = 10_000_000;
const RESERVED = 500;
const DAY = budgetId(KEY, 'tokens', 'd2027-01-15');

/** The shape the gateway plans: key, key×model and the model's fleet-wide limits, a day budget. */
function request(): AdmitRequest {
  const k = keyTag(KEY);
  return {
    requestId: randomUUID(),
    keyId: KEY,
    rates: [
      { id: `${k}:rpm`, scope: 'key', unit: 'requests', limit: 1_000_000, cost: 1 },
      { id: `${k}:tpm`, scope: 'key', unit: 'tokens', limit: TPM, cost: RESERVED },
      { id: `${k}:m:${MODEL}:tpm`, scope: 'key-model', unit: 'tokens', limit: TPM, cost: RESERVED },
      { id: `${modelTag(MODEL)}:tpm`, scope: 'model', unit: 'tokens', limit: TPM, cost: RESERVED },
    ],
    budgets: [{ id: DAY, unit: 'tokens', period: 'day', limit: 10 ** 12, cost: RESERVED, ttlSeconds: 3 * 86_400 }],
  };
}

/** The i-th request's real use: varied, below and above its reservation. */
function settlement(r: AdmitRequest, i: number): Settlement {
  const input = 20 + (i % 13);
  const output = 100 + ((i * 37) % 900);
  const usage = { requestId: r.requestId, keyId: KEY, model: MODEL, inputTokens: input, outputTokens: output, costNanos: 3 * input + 5 * output, at: T };
  return { reservation: r, actual: { tokens: input + output, costNanos: usage.costNanos }, usage };
}

function expected(n: number): { tokens: number; row: UsageRow } {
  const row = { keyId: KEY, model: MODEL, requests: n, inputTokens: 0, outputTokens: 0, costNanos: 0 };
  for (let i = 0; i < n; i++) {
    const u = settlement(request(), i).usage!;
    row.inputTokens += u.inputTokens;
    row.outputTokens += u.outputTokens;
    row.costNanos += u.costNanos;
  }
  return { tokens: row.inputTokens + row.outputTokens, row };
}

/** Script calls Redis ran: EVALSHA, and EVAL for a client's first call of a script Redis did not hold yet. */
async function scriptCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}

describe('one-round-trip admission and batched settlement on one real Redis', () => {
  let redis: RedisServer;
  let admin: Redis;
  let reader: RedisLimitStore;
  beforeAll(async () => {
    redis = await startRedis({ appendfsync: 'everysec' });
    admin = new Redis(redis.url);
    reader = new RedisLimitStore({ url: redis.url, clock: 'caller' });
    await reader.ready();
  });
  afterAll(async () => {
    admin?.disconnect();
    await reader?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    await admin.flushall();
    await admin.config('RESETSTAT');
  });

  /** What the counters hold: the key's and the model's token TATs as remaining tokens, the budget, the usage. */
  async function counters(): Promise<{ remaining: number[]; budget: number; usage: UsageRow[] }> {
    const states = await reader.peek(request().rates, T);
    return { remaining: states.map((s) => s.remaining), budget: await reader.budgetUsed(DAY), usage: await reader.usage({ periodId: 'total' }) };
  }

  it('admits the requests of one turn in a few script calls and settles N concurrent requests of two pods in a few batches, counters exact', async () => {
    const N = 400;
    const pods = [new RedisLimitStore({ url: redis.url, clock: 'caller' }), new RedisLimitStore({ url: redis.url, clock: 'caller' })];
    await Promise.all(pods.map((p) => p.ready()));
    // Redis holds the admit script already (the first call of a script Redis lacks bounces once: NOSCRIPT).
    const warm = { keyId: 'ns/warm', rates: [{ id: 'th:{k:ns/warm}:rpm', scope: 'key', unit: 'requests', limit: 10, cost: 1 }], budgets: [] } as const;
    await Promise.all(pods.map((p, i) => p.admit({ ...warm, requestId: `warm-${i}` }, T)));
    const reqs = Array.from({ length: N }, request);
    const before = await scriptCalls(admin);
    const admits = await Promise.all(reqs.map((r, i) => pods[i % 2]!.admit(r, T)));
    expect(admits.every((a) => a.allowed)).toBe(true);
    // One round trip per batch of up to 64 (admit-batch.ts): a request's key and model checks
    // in one call (one Redis, no Cluster), and the requests of one turn together.
    const admitCalls = 2 * Math.ceil(N / 2 / 64);
    expect((await scriptCalls(admin)) - before).toBe(admitCalls);
    await Promise.all(reqs.map((r, i) => pods[(i + 1) % 2]!.settle(settlement(r, i), T)));
    const settleCalls = (await scriptCalls(admin)) - before - admitCalls;
    expect(settleCalls).toBeGreaterThanOrEqual(2);
    expect(settleCalls).toBeLessThanOrEqual(N / 10);
    const want = expected(N);
    // Every request's rpm stays (sent), its tokens moved from the reservation to the real use.
    expect(await counters()).toEqual({
      remaining: [1_000_000 - N, TPM - want.tokens, TPM - want.tokens, TPM - want.tokens],
      budget: want.tokens,
      usage: [want.row],
    });
    // Replays, batched too, change nothing.
    await Promise.all(reqs.map((r, i) => pods[i % 2]!.settle(settlement(r, i), T)));
    expect(await counters()).toEqual({
      remaining: [1_000_000 - N, TPM - want.tokens, TPM - want.tokens, TPM - want.tokens],
      budget: want.tokens,
      usage: [want.row],
    });
    await Promise.all(pods.map((p) => p.close()));
  });

  it('remembers settled request ids for the replay window (1 h by default, not a day: Redis is memory)', async () => {
    const pods = [new RedisLimitStore({ url: redis.url, clock: 'caller' }), new RedisLimitStore({ url: redis.url, clock: 'caller', replayWindowSeconds: 600 })];
    await Promise.all(pods.map((p) => p.ready()));
    for (const [i, pod] of pods.entries()) {
      const r = request();
      await pod.admit(r, T);
      await pod.settle(settlement(r, i), T);
      const ids = await admin.keys(`${keyTag(KEY)}:s:${r.requestId}`);
      expect(ids).toHaveLength(1);
      const ttl = await admin.ttl(ids[0]!);
      const window = i === 0 ? REPLAY_WINDOW_S : 600;
      expect(ttl).toBeGreaterThan(window - 10);
      expect(ttl).toBeLessThanOrEqual(window);
      // What each remembered id costs Redis (the figure behind the window's default).
      expect(await admin.memory('USAGE', ids[0]!)).toBeLessThan(160); // 104 bytes on Redis 7
    }
    expect(REPLAY_WINDOW_S).toBe(3600);
    await Promise.all(pods.map((p) => p.close()));
  });

  it('sends what it held back when closed right after a burst (the settlements not awaited)', async () => {
    const N = 300;
    const pods = [
      new RedisLimitStore({ url: redis.url, clock: 'caller', settleDelayMs: 60_000 }),
      new RedisLimitStore({ url: redis.url, clock: 'caller', settleDelayMs: 60_000 }),
    ];
    await Promise.all(pods.map((p) => p.ready()));
    const reqs = Array.from({ length: N }, request);
    await Promise.all(reqs.map((r, i) => pods[i % 2]!.admit(r, T)));
    const settled = reqs.map((r, i) => pods[i % 2]!.settle(settlement(r, i), T));
    // Held back (a minute's window here): nothing has reached Redis yet.
    expect((await counters()).budget).toBe(N * RESERVED);
    await Promise.all(pods.map((p) => p.close()));
    await Promise.all(settled);
    const want = expected(N);
    expect(await counters()).toEqual({
      remaining: [1_000_000 - N, TPM - want.tokens, TPM - want.tokens, TPM - want.tokens],
      budget: want.tokens,
      usage: [want.row],
    });
  });

  it('a gateway store (resilient, as the gateway runs it) flushes and closes right after a burst with exact counters', async () => {
    const N = 200;
    const stores: (LimitStore & { flush?(): Promise<void> })[] = [createStore({ redisUrl: redis.url }), createStore({ redisUrl: redis.url })];
    const reqs = Array.from({ length: N }, request);
    // Redis's clock here: the budget and usage are exact whatever the time.
    await Promise.all(reqs.map((r, i) => stores[i % 2]!.admit(r, Date.now())));
    for (const [i, r] of reqs.entries()) void stores[i % 2]!.settle(settlement(r, i), Date.now());
    // The gateway's shutdown: flush, then close.
    await Promise.all(stores.map(async (s) => (await s.flush?.(), await s.close())));
    const want = expected(N);
    expect(await reader.budgetUsed(DAY)).toBe(want.tokens);
    expect(await reader.usage({ periodId: 'total' })).toEqual([want.row]);
  });
});

describe('encodeBatch', () => {
  it('names each key once and refers to it by index', () => {
    const entry = {
      now: '',
      idem: 'th:{k:a}:s:1',
      mark: { id: 'th:{k:a}:r:1', mode: 'clear' as const },
      rates: [{ check: { id: 'th:{k:a}:tpm', limit: 100 }, delta: -5 }],
      budgets: [{ check: { id: 'th:{k:a}:b:tokens:total' }, delta: -5 }],
    };
    const { keys, args } = encodeBatch([entry, { ...entry, idem: 'th:{k:a}:s:2', mark: { id: 'th:{k:a}:r:2', mode: 'require' } }], 86_400);
    expect(keys).toEqual(['th:{k:a}:s:1', 'th:{k:a}:r:1', 'th:{k:a}:tpm', 'th:{k:a}:b:tokens:total', 'th:{k:a}:s:2', 'th:{k:a}:r:2']);
    expect(args).toEqual([86_400, 2, '', 1, 2, 'clear', 1, 1, 0, 3, 100, -5, 4, -5, 0, '', 5, 6, 'require', 1, 1, 0, 3, 100, -5, 4, -5, 0]);
  });
});

describe('SettleBatcher', () => {
  const entry = (i: number): BatchEntry => ({ now: '', idem: `th:{k:a}:s:${i}`, rates: [], budgets: [] });
  /** A send whose answers the test gives, one batch at a time. */
  function manual(): { batcher: SettleBatcher; sizes: number[]; answer: () => void } {
    const sizes: number[] = [];
    const waiting: (() => void)[] = [];
    const batcher = new SettleBatcher({
      idemTtlSeconds: 60,
      send: (_route, b) => {
        sizes.push(Number(b.args[1]));
        return new Promise<void>((resolve) => waiting.push(resolve));
      },
    });
    return { batcher, sizes, answer: () => waiting.shift()?.() };
  }
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('sends the first settlements at the end of the turn, and what comes while that batch is out as one batch when it answers', async () => {
    const { batcher, sizes, answer } = manual();
    const first = [batcher.add('', entry(1)), batcher.add('', entry(2))];
    await turn();
    expect(sizes).toEqual([2]);
    const next = Array.from({ length: 5 }, (_, i) => batcher.add('', entry(3 + i)));
    await turn();
    expect(sizes).toEqual([2]);
    answer();
    await Promise.all(first);
    await turn();
    expect(sizes).toEqual([2, 5]);
    answer();
    await Promise.all(next);
    expect(batcher.idle()).toBe(true);
  });

  it('sendQueued waits for what was queued or on its way when called, not for settlements that come later', async () => {
    const { batcher, sizes, answer } = manual();
    void batcher.add('', entry(1));
    let done = false;
    const read = batcher.sendQueued().then(() => (done = true));
    expect(sizes).toEqual([1]);
    void batcher.add('', entry(2));
    answer();
    await read;
    expect(done).toBe(true);
    // The later settlement is still queued (behind nothing now): it goes at the end of the turn.
    await turn();
    expect(sizes).toEqual([1, 1]);
    answer();
    await batcher.flush();
    expect(batcher.idle()).toBe(true);
  });
});

describe('storeEnv', () => {
  it('reads the replay window from TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS, ignoring values under a minute or not whole', () => {
    expect(storeEnv({ TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS: '86400' })).toEqual({ replayWindowSeconds: 86_400 });
    for (const bad of ['', '59', '1.5', 'day', '-3600']) expect(storeEnv({ TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS: bad })).toEqual({});
  });
});
