/**
 * The Redis store on a real three-master Redis Cluster: a key's checks and a model's fleet-wide
 * checks live in different slots (on different nodes here), each script touches one slot only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetId, keyTag, modelTag } from '../../src/limits/plan.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import type { AdmitRequest } from '../../src/limits/store.js';
import { startRedisCluster, type RedisClusterServer } from '../support/redis-server.js';

describe('RedisLimitStore on Redis Cluster', () => {
  let cluster: RedisClusterServer;
  let store: RedisLimitStore;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = new RedisLimitStore({ url: cluster.url });
    expect(await store.ready(5000)).toBe(true);
  });
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('admits, refunds across slots and settles with usage', async () => {
    const keyId = 'team-a/app';
    const mk = (id: string): AdmitRequest => ({
      requestId: id,
      keyId,
      rates: [
        { id: `${keyTag(keyId)}:rpm`, scope: 'key', unit: 'requests', limit: 100, cost: 1 },
        { id: `${modelTag('gpt-x')}:rpm`, scope: 'model', unit: 'requests', limit: 2, cost: 1 },
      ],
      budgets: [{ id: budgetId(keyId, 'cost', 'total'), unit: 'cost', period: 'total', limit: 10 ** 12, cost: 1000 }],
    });
    const results = [];
    for (const id of ['c1', 'c2', 'c3']) results.push(await store.admit(mk(id), 0));
    expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
    // The third was refunded on the key's slot after the model's slot denied it.
    expect(await store.budgetUsed(budgetId(keyId, 'cost', 'total'))).toBe(2000);
    const at = Date.now();
    await store.settle(
      {
        reservation: mk('c1'),
        actual: { tokens: 30, costNanos: 400 },
        usage: { requestId: 'c1', keyId, model: 'gpt-x', inputTokens: 10, outputTokens: 20, costNanos: 400, at },
      },
      0,
    );
    await store.settle(
      {
        reservation: mk('c1'),
        actual: { tokens: 30, costNanos: 400 },
        usage: { requestId: 'c1', keyId, model: 'gpt-x', inputTokens: 10, outputTokens: 20, costNanos: 400, at },
      },
      0,
    );
    expect(await store.budgetUsed(budgetId(keyId, 'cost', 'total'))).toBe(1400);
    expect(await store.usage({ periodId: 'total' })).toEqual([{ keyId, model: 'gpt-x', requests: 1, inputTokens: 10, outputTokens: 20, costNanos: 400 }]);
  });
});
