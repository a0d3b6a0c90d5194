/**
 * Admits batched per event-loop turn (admit-batch.ts, issue #13), against a real redis-server:
 * the admits of one turn go as one script call (bounded), each decided in arrival order exactly
 * as the memory store decides them one by one, and a batch whose reply is lost is undone
 * request by request: the admitted ones refunded, the denied ones left alone.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeAdmitBatch } from '../../src/limits/admit-batch.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { budgetId, keyTag, modelTag } from '../../src/limits/plan.js';
import { RedisLimitStore, undoAdmit } from '../../src/limits/redis-store.js';
import type { AdmitRequest, AdmitResult, LimitStore } from '../../src/limits/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const T = 1_800_000_000_000;

function request(opts: { id: string; keyId: string; tokens: number; rpm?: number; tpm?: number; budget?: number }): AdmitRequest {
  const k = keyTag(opts.keyId);
  return {
    requestId: opts.id,
    keyId: opts.keyId,
    rates: [
      { id: `${k}:rpm`, scope: 'key', unit: 'requests', limit: opts.rpm ?? 1000, cost: 1 },
      { id: `${k}:tpm`, scope: 'key', unit: 'tokens', limit: opts.tpm ?? 9000, cost: opts.tokens },
      { id: `${modelTag('gpt-x')}:tpm`, scope: 'model', unit: 'tokens', limit: opts.tpm ?? 20_000, cost: opts.tokens },
    ],
    budgets: [
      {
        id: budgetId(opts.keyId, 'tokens', 'd2027-01-15'),
        unit: 'tokens',
        period: 'day',
        limit: opts.budget ?? 10 ** 9,
        cost: opts.tokens,
        ttlSeconds: 86_400,
      },
    ],
  };
}

/** What both stores must agree on (budgetsUsed is the Redis store's extra). */
const comparable = (r: AdmitResult): AdmitResult => (r.allowed ? { allowed: true, rates: r.rates } : { allowed: false, denial: r.denial, rates: r.rates });

async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}

describe('admits batched per event-loop turn on a real Redis', () => {
  let redis: RedisServer;
  let admin: Redis;
  const stores: RedisLimitStore[] = [];
  const store = async (): Promise<RedisLimitStore> => {
    const s = new RedisLimitStore({ url: redis.url, clock: 'caller' });
    stores.push(s);
    await s.ready();
    // The scripts loaded, so the calls counted below are the admits' own (a counter no test reads).
    await s.admit(
      { requestId: 'warm', keyId: 'ns/warm', rates: [{ id: 'th:{k:ns/warm}:rpm', scope: 'key', unit: 'requests', limit: 10, cost: 1 }], budgets: [] },
      T,
    );
    return s;
  };
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    admin?.disconnect();
    await redis?.stop();
  });
  beforeEach(async () => {
    await admin.flushall();
  });

  it('sends the admits of one turn as one call, at most 64 to a call, and a lone admit at once', async () => {
    const s = await store();
    let before = await scriptCalls(admin);
    const burst = await Promise.all(Array.from({ length: 150 }, (_, i) => s.admit(request({ id: `b${i}`, keyId: `ns/k${i % 3}`, tokens: 10 }), T)));
    expect(burst.every((r) => r.allowed)).toBe(true);
    expect((await scriptCalls(admin)) - before).toBe(3);
    before = await scriptCalls(admin);
    for (let i = 0; i < 3; i++) expect((await s.admit(request({ id: `s${i}`, keyId: 'ns/k0', tokens: 10 }), T)).allowed).toBe(true);
    expect((await scriptCalls(admin)) - before).toBe(3);
  });

  it('decides a batch in arrival order, each request seeing the ones before it, exactly as the memory store one by one', async () => {
    const s = await store();
    const memory: LimitStore = new MemoryLimitStore();
    // Two keys on a shared fleet-wide tpm: rpm 5 and tpm 9000 per key, a budget of 12,000 on
    // one key; large and small requests interleaved, so some are denied by a rate, some by the
    // budget, and small ones after a denied large one are admitted again.
    const reqs = Array.from({ length: 40 }, (_, i) =>
      request({ id: `o${i}`, keyId: i % 3 === 0 ? 'ns/b' : 'ns/a', tokens: [2500, 300, 4000, 50][i % 4] as number, rpm: 5, budget: 12_000 }),
    );
    const batched = await Promise.all(reqs.map((r) => s.admit(r, T)));
    const oneByOne: AdmitResult[] = [];
    for (const r of reqs) oneByOne.push(await memory.admit(r, T));
    expect(batched.map(comparable)).toEqual(oneByOne.map(comparable));
    expect(batched.filter((r) => r.allowed).length).toBeGreaterThan(5);
    expect(batched.some((r) => !r.allowed && r.denial.kind === 'rate')).toBe(true);
    expect(batched.some((r, i) => r.allowed && i > 0 && !batched[i - 1]!.allowed)).toBe(true);
    // The counters after the batch: what the memory store holds.
    for (const id of [budgetId('ns/a', 'tokens', 'd2027-01-15'), budgetId('ns/b', 'tokens', 'd2027-01-15')]) {
      expect(await s.budgetUsed(id)).toBe(await memory.budgetUsed(id));
    }
    const rates = reqs[0]!.rates;
    expect(await s.peek(rates, T)).toEqual(await memory.peek(rates, T));
  });

  it('keeps a budget within one reservation of its limit when a batch crosses it', async () => {
    const s = await store();
    const reqs = Array.from({ length: 50 }, (_, i) => request({ id: `c${i}`, keyId: 'ns/cross', tokens: 700, tpm: 10 ** 9, budget: 10_000 }));
    const results = await Promise.all(reqs.map((r) => s.admit(r, T)));
    // Admitted while used < limit: 15 requests (10,500), the 15th crossing by less than its 700.
    expect(results.filter((r) => r.allowed).length).toBe(15);
    expect(results.slice(0, 15).every((r) => r.allowed)).toBe(true);
    expect(await s.budgetUsed(budgetId('ns/cross', 'tokens', 'd2027-01-15'))).toBe(10_500);
  });

  it('undoes a batch whose reply was lost request by request: admitted ones refunded once, denied ones untouched', async () => {
    const s = await store();
    const client = s.client as Redis;
    const send = client.sendCommand.bind(client);
    // Redis applies the batch, then the connection drops before the reply.
    client.sendCommand = async (cmd) => {
      await send(cmd);
      throw new Error('Connection is closed.');
    };
    const reqs = Array.from({ length: 6 }, (_, i) => request({ id: `l${i}`, keyId: 'ns/lost', tokens: 100, rpm: 3 }));
    const results = await Promise.allSettled(reqs.map((r) => s.admit(r, T)));
    client.sendCommand = send;
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const day = budgetId('ns/lost', 'tokens', 'd2027-01-15');
    // Three admitted (rpm 3), each holding 100 tokens and a mark; three denied, holding nothing.
    expect(await s.budgetUsed(day)).toBe(300);
    expect((await admin.keys(`${keyTag('ns/lost')}:r:*`)).sort()).toEqual(reqs.slice(0, 3).map((r) => `${keyTag('ns/lost')}:r:${r.requestId}`));
    // What the resilient store journals for each, replayed twice.
    for (let round = 0; round < 2; round++) await Promise.all(reqs.map((r) => s.settle(undoAdmit(r), T)));
    expect(await s.budgetUsed(day)).toBe(0);
    // The key's counters refunded; the model's fleet-wide one heals within its window (redis-store.ts).
    expect((await s.peek(reqs[0]!.rates, T)).map((r) => r.remaining)).toEqual([3, 9000, 20_000 - 300]);
    expect(await admin.keys(`${keyTag('ns/lost')}:r:*`)).toEqual([]);
  });

  it('loads the scripts again when Redis lost them (a restart, a failover): NOSCRIPT, then EVAL', async () => {
    const s = await store();
    await admin.script('FLUSH');
    const r = request({ id: 'n1', keyId: 'ns/noscript', tokens: 10 });
    expect((await s.admit(r, T)).allowed).toBe(true);
    await admin.script('FLUSH');
    await s.settle({ reservation: r, actual: { tokens: 4, costNanos: 0 } }, T);
    expect(await s.budgetUsed(budgetId('ns/noscript', 'tokens', 'd2027-01-15'))).toBe(4);
  });

  it('encodes each counter once, counters before marks', () => {
    const a = request({ id: 'e1', keyId: 'ns/a', tokens: 5 });
    const b = request({ id: 'e2', keyId: 'ns/a', tokens: 7 });
    const { keys, args } = encodeAdmitBatch(
      [
        { now: '', rates: a.rates, budgets: a.budgets, mark: 'm1' },
        { now: '12', rates: b.rates, budgets: [], mark: 'm2' },
      ],
      3600,
    );
    expect(keys).toEqual([...a.rates.map((r) => r.id), a.budgets[0]!.id, 'm1', 'm2']);
    expect(args.slice(0, 3)).toEqual([3600, 4, 2]);
    // Entry 2: its own clock, three rates on counters 1-3, no budget, mark 6.
    expect(args.slice(3 + 4 + 9 + 4)).toEqual(['12', 3, 0, 6, 1, 1000, 1, 2, 9000, 7, 3, 20_000, 7]);
  });
});
