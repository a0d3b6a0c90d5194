/**
 * Faults (issue #5): Redis SIGKILLed under load and restarted on the same port two seconds later
 * (its append-only file survives). In fail-open mode (the default) every request keeps getting
 * 200 from the per-pod fallback; after the load the gateways get SIGTERM, their graceful
 * shutdown flushes what they journaled, and the usage in Redis must equal what the mock upstream
 * reported: requests and tokens, nothing lost and nothing counted twice. In fail-closed mode a
 * request with Redis down gets 503 limiter_unavailable.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { budgetId } from '../../src/limits/plan.js';
import { periodId } from '../../src/limits/periods.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { keyYaml, modelYaml, policyYaml } from '../support/gateway.js';
import { type Fleet, type Outcome, buildIfStale, configDir, logsOf, send, startFleet, tally } from './fleet.js';

const N = 3;
const WORKERS = 8;
const KEY = 'th-fleet-faults-key';
const payload = (n: number): string => JSON.stringify({ model: 'fault-m', messages: [{ role: 'user', content: `load ${n}` }], max_tokens: 16 });

let redis: RedisServer | undefined;
let mock: MockUpstream | undefined;
let dir: string | undefined;
const fleets: Fleet[] = [];

beforeAll(async () => {
  buildIfStale();
  [redis, mock] = await Promise.all([startRedis(), startMockUpstream()]);
  const yaml = [
    modelYaml({ name: 'fault-m', price: ['1.00', '2.00'] }),
    // Generous: the load never reaches these, but every request reserves and settles them all.
    policyYaml('generous', '{rateLimits: {rpm: 100000, tpm: 10000000}, budgets: {tokens: {day: 100000000}, cost: {total: "1000.00"}}}'),
    keyYaml({ name: 'faults', clear: KEY, policies: ['generous'] }),
  ].join('');
  dir = await configDir(yaml.replaceAll('${MOCK}', mock.url));
});

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  await Promise.all([redis?.stop(), mock?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function fleetOf(mode: 'fail-open' | 'fail-closed', n: number): Promise<Fleet> {
  const fleet = await startFleet({
    n,
    configDir: dir ?? '',
    redisUrl: redis?.url ?? '',
    env: { TOKENHUB_REPLICAS: String(n), TOKENHUB_REDIS_FAILURE_MODE: mode },
  });
  fleets.push(fleet);
  return fleet;
}

/** `WORKERS` sequential loops over the fleet until `ms` have passed; every answer kept. */
async function load(fleet: Fleet, ms: number, during: () => Promise<void>): Promise<(Outcome & { at: number })[]> {
  const outcomes: (Outcome & { at: number })[] = [];
  const until = Date.now() + ms;
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    const base = fleet.gateways[w % fleet.gateways.length]?.baseURL ?? '';
    while (Date.now() < until) outcomes.push({ ...(await send(base, KEY, payload(n++))), at: Date.now() });
  };
  await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), during()]);
  return outcomes;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fail-open: Redis killed and restarted under load', () => {
  it('keeps answering 200, and after a graceful shutdown Redis holds exactly the usage the upstream reported', async () => {
    const fleet = await fleetOf('fail-open', N);
    const outage = { from: 0, to: 0 };
    const outcomes = await load(fleet, 6000, async () => {
      await sleep(1500);
      await redis?.kill();
      outage.from = Date.now();
      await sleep(2000);
      await redis?.restart();
      outage.to = Date.now();
    });
    expect(tally(outcomes), logsOf(fleet)).toEqual({ '200': outcomes.length });
    const during = outcomes.filter((o) => o.at > outage.from && o.at < outage.to).length;
    // Requests kept flowing while Redis was away (a stall would leave this near zero).
    expect(during).toBeGreaterThan(100);
    // Each pod told its operators that it lost Redis (regression: the state change went unlogged).
    for (const g of fleet.gateways) expect(readFileSync(g.logFile, 'utf8'), g.logFile).toContain('Redis unreachable');
    // Graceful shutdown: requests in flight finish, journals replay to Redis, processes exit 0.
    await fleet.stop();
    expect(fleet.gateways.map((g) => g.exited())).toEqual(fleet.gateways.map(() => 'exited with code 0'));

    const reported = mock?.stats();
    const store = new RedisLimitStore({ url: redis?.url ?? '' });
    try {
      expect(await store.ready(5000)).toBe(true);
      const rows = await store.usage({ periodId: 'total', keyId: 'default/faults' });
      expect(rows).toHaveLength(1);
      const row = rows[0];
      expect(row?.requests).toBe(outcomes.length);
      expect(row?.requests).toBe(reported?.requests);
      expect(row?.inputTokens).toBe(reported?.usage.promptTokens);
      expect(row?.outputTokens).toBe(reported?.usage.completionTokens);
      const tokens = (reported?.usage.promptTokens ?? 0) + (reported?.usage.completionTokens ?? 0);
      // The budget counters hold the same spend: every reservation reconciled or charged once.
      expect(await store.budgetUsed(budgetId('default/faults', 'tokens', periodId('day', new Date())))).toBe(tokens);
      expect(await store.budgetUsed(budgetId('default/faults', 'cost', 'total'))).toBe(row?.costNanos);
      // No reservation left marked in Redis: each was settled, or undone after a lost reply.
      expect(await store.client.keys('*:r:*')).toEqual([]);
      console.log(
        `faults: ${outcomes.length} requests (${during} during the ${outage.to - outage.from} ms outage), all 200; Redis usage ${row?.requests} requests, ${row?.inputTokens}+${row?.outputTokens} tokens; upstream reported ${reported?.requests} requests, ${reported?.usage.promptTokens}+${reported?.usage.completionTokens} tokens`,
      );
    } finally {
      await store.close();
    }
  });
});

describe('fail-closed: Redis down', () => {
  it('answers 503 limiter_unavailable while Redis is down, and 200 again once it is back', async () => {
    const fleet = await fleetOf('fail-closed', 1);
    const base = fleet.gateways[0]?.baseURL ?? '';
    expect((await send(base, KEY, payload(0))).status).toBe(200);
    await redis?.kill();
    try {
      const down = await Promise.all([1, 2, 3].map((n) => send(base, KEY, payload(n))));
      expect(down.map((o) => `${o.status} ${o.code}`)).toEqual(Array(3).fill('503 limiter_unavailable'));
    } finally {
      await redis?.restart();
    }
    let last: Outcome | undefined;
    for (let i = 0; i < 100 && last?.status !== 200; i++) {
      await sleep(100);
      last = await send(base, KEY, payload(i));
    }
    expect(last?.status, logsOf(fleet)).toBe(200);
  });
});
