/**
 * Budgets across a fleet (issue #5): two in-process gateways on one real Redis, with a clock the
 * test moves. A day token budget runs out (429 insufficient_quota, x-should-retry: false, and
 * the SDK does not retry), and comes back at UTC midnight; a total cost credit runs out and an
 * operator's `tokenhub usage recharge` lets the key through again; a fallback is billed at the
 * price of the model that answered, and the primary that failed leaves no usage behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createStore } from '../../src/limits/create-store.js';
import { budgetId } from '../../src/limits/plan.js';
import type { LimitStore } from '../../src/limits/store.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { type TestGateway, eventually, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';
import { buildIfStale, cli } from './fleet.js';

/** 2026-11-28 23:59:00 UTC: a minute before the day budget rolls over. */
let now = Date.UTC(2026, 10, 28, 23, 59, 0);
let redis: RedisServer | undefined;
const gws: TestGateway[] = [];
const stores: LimitStore[] = [];

const K = { day: 'th-fleet-day', credit: 'th-fleet-credit', fb: 'th-fleet-fallback' } as const;
const hello = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'hello' }], max_tokens: 16 });
/** What the mock reports for `hello` with max_tokens 16: 7 prompt and 16 completion tokens. */
const USED = { prompt: 7, completion: 16 };
/** The gateway reserves its input estimate (9) plus max_tokens. */
const RESERVED_TOKENS = 9 + 16;
const DAY_TOKENS = 100;

const YAML = [
  modelYaml({ name: 'cheap', price: ['1.00', '2.00'] }),
  modelYaml({ name: 'primary', price: ['1.00', '1.00'], fallback: ['backup'] }),
  modelYaml({ name: 'backup', price: ['3.00', '5.00'] }),
  policyYaml('day', `{budgets: {tokens: {day: ${DAY_TOKENS}}}}`),
  policyYaml('credit', '{budgets: {cost: {total: "0.0001"}}}'),
  policyYaml('spend', '{budgets: {cost: {day: "1.00"}}}'),
  keyYaml({ name: 'day', clear: K.day, policies: ['day'] }),
  keyYaml({ name: 'credit', clear: K.credit, policies: ['credit'] }),
  keyYaml({ name: 'fb', clear: K.fb, policies: ['spend'] }),
].join('');

beforeAll(async () => {
  buildIfStale();
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    const store = createStore({ redisUrl: redis.url, replicas: 2 });
    stores.push(store);
    gws.push(await startTestGateway({ yaml: YAML, store, clock: () => now }));
  }
});

afterAll(async () => {
  await Promise.all(gws.map((g) => g.close()));
  await Promise.all(stores.map((s) => s.close()));
  await redis?.stop();
});

const gw = (i: number): TestGateway => gws[i % gws.length] as TestGateway;
const errorOf = (json: unknown) => (json as { error: { code: string; type: string; message: string } }).error;

describe('a day token budget shared by two gateways', () => {
  it('admits while used < limit (one reservation over at most), then answers 429 insufficient_quota with x-should-retry: false', async () => {
    let admitted = 0;
    let denied: Awaited<ReturnType<typeof postChat>> | undefined;
    for (let i = 0; i < 20 && denied === undefined; i++) {
      const res = await postChat(gw(i).baseURL, { key: K.day, body: hello('cheap') });
      if (res.status === 200) admitted++;
      else denied = res;
    }
    // 23 tokens a request: after four, 92 < 100 admits a fifth; after it, 115 ≥ 100.
    expect(admitted).toBe(5);
    expect(denied?.status, denied?.text).toBe(429);
    expect(errorOf(denied?.json)).toMatchObject({ code: 'insufficient_quota', type: 'insufficient_quota' });
    expect(denied?.headers.get('x-should-retry')).toBe('false');
    expect(denied?.headers.get('retry-after')).toBe('60');
    const day = budgetId('default/day', 'tokens', 'd2026-11-28');
    await eventually(async () => (await stores[0]?.budgetUsed(day)) === admitted * (USED.prompt + USED.completion)).catch(() => undefined);
    const used = await stores[0]?.budgetUsed(day);
    expect(used).toBe(admitted * (USED.prompt + USED.completion));
    expect(used).toBeLessThan(DAY_TOKENS + RESERVED_TOKENS);
  });

  it('the official SDK (maxRetries 2) gives up at once: one request reaches the gateway, none the upstream', async () => {
    const before = { events: gw(0).events.length, upstream: gw(0).mock.stats().requests };
    const client = new OpenAI({ baseURL: gw(0).baseURL, apiKey: K.day, maxRetries: 2 });
    const err = await client.chat.completions.create(hello('cheap')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');
    expect(gw(0).events.length - before.events).toBe(1);
    expect(gw(0).mock.stats().requests).toBe(before.upstream);
  });

  it('resets at the UTC day boundary on every gateway, and the usage stays on the day it was spent', async () => {
    now = Date.UTC(2026, 10, 29, 0, 0, 1);
    for (let i = 0; i < 2; i++) expect((await postChat(gw(i).baseURL, { key: K.day, body: hello('cheap') })).status).toBe(200);
    const day = async (d: string) => cli(['usage', '--json', '--period', 'day', '--date', d, '--key', 'default/day', '--redis', redis?.url ?? '']);
    const rowsOf = (out: { stdout: string }) => (JSON.parse(out.stdout) as { rows: { requests: number; inputTokens: number; outputTokens: number }[] }).rows;
    expect(rowsOf(await day('2026-11-28'))).toMatchObject([{ requests: 5, inputTokens: 5 * USED.prompt, outputTokens: 5 * USED.completion }]);
    expect(rowsOf(await day('2026-11-29'))).toMatchObject([{ requests: 2 }]);
  });
});

describe('a total cost credit', () => {
  it('runs out (429 insufficient_quota, no retry-after: only a recharge helps), and `tokenhub usage recharge` lets the key through again', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10 && statuses.at(-1) !== 429; i++) statuses.push((await postChat(gw(i).baseURL, { key: K.credit, body: hello('cheap') })).status);
    // 39000 nanos a request (7 × 1.00 + 16 × 2.00 per million): 0, 39000 and 78000 are < 100000.
    expect(statuses).toEqual([200, 200, 200, 429]);
    const denied = await postChat(gw(1).baseURL, { key: K.credit, body: hello('cheap') });
    expect(errorOf(denied.json)).toMatchObject({ code: 'insufficient_quota' });
    expect(errorOf(denied.json).message).toMatch(/recharge/);
    expect(denied.headers.get('x-should-retry')).toBe('false');
    expect(denied.headers.get('retry-after')).toBeNull();

    const out = await cli(['usage', 'recharge', '--key', 'default/credit', '--amount', '1.00', '--redis', redis?.url ?? '']);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain('credited 1.00 to default/credit');
    for (let i = 0; i < 2; i++) expect((await postChat(gw(i).baseURL, { key: K.credit, body: hello('cheap') })).status).toBe(200);
    // Settlements reach Redis after the response, in batches: the last one lands a moment later.
    const credit = budgetId('default/credit', 'cost', 'total');
    await eventually(async () => (await stores[0]?.budgetUsed(credit)) === 5 * 39_000 - 1_000_000_000).catch(() => undefined);
    expect(await stores[0]?.budgetUsed(credit)).toBe(5 * 39_000 - 1_000_000_000);
  });
});

describe('fallback billing', () => {
  it('bills the model that answered, at its price, in usage and in the cost budget; the failed primary leaves nothing', async () => {
    gw(0).mock.setBehaviour('primary', { status: 503 });
    const res = await postChat(gw(0).baseURL, { key: K.fb, body: hello('primary') });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('x-tokenhub-model')).toBe('backup');
    // backup: 3.00 input and 5.00 output per million tokens, in nano-units
    const cost = USED.prompt * 3000 + USED.completion * 5000;
    const out = await cli(['usage', '--json', '--period', 'total', '--key', 'default/fb', '--redis', redis?.url ?? '']);
    expect(out.status, out.stderr).toBe(0);
    const rows = (JSON.parse(out.stdout) as { rows: unknown[] }).rows;
    expect(rows).toEqual([
      { keyId: 'default/fb', model: 'backup', requests: 1, inputTokens: USED.prompt, outputTokens: USED.completion, costNanos: cost, cost: '0.000101' },
    ]);
    expect(await stores[0]?.usage({ periodId: 'd2026-11-29', keyId: 'default/fb' })).toMatchObject([{ model: 'backup', costNanos: cost }]);
    // The primary's reservation was refunded; the day's spend is the backup's price alone.
    expect(await stores[1]?.budgetUsed(budgetId('default/fb', 'cost', 'd2026-11-29'))).toBe(cost);
  });
});
