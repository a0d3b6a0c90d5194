/**
 * A key holder's own view over real HTTP: GET /api/v1/key (and /v1/key) authenticated with the
 * key itself, and GET /api/v1/usage. Every number is checked exactly against what the official
 * SDK was told the requests used, on the memory store and on a real Redis. Another key's data
 * never appears, whatever the caller puts in the query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import type { LimitStore } from '../../src/limits/store.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { type TestGateway, keyYaml, modelYaml, policyYaml, startTestGateway } from '../support/gateway.js';

/** 2026-11-28 12:00:00 UTC, standing still: every remaining count is exact. */
const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const A = 'th-self-view-a';
const B = 'th-self-view-b';

const YAML = [
  modelYaml({ name: 'cheap', price: ['1.00', '2.00'] }),
  modelYaml({ name: 'other', price: ['1.00', '2.00'] }),
  policyYaml(
    'team',
    '{rateLimits: {rpm: 10, tpm: 5000}, modelRateLimits: [{model: cheap, rpm: 4}], budgets: {tokens: {day: 100000}, cost: {month: "5.00", total: "2.50"}}}',
  ),
  policyYaml('small', '{rateLimits: {rpm: 3}}'),
  keyYaml({ name: 'alpha', clear: A, policies: ['team'] }).replace('spec:\n', 'spec:\n  owner: team-alpha\n  displayName: Alpha search\n') +
    '  expiresAt: "2027-06-30T00:00:00Z"\n',
  keyYaml({ name: 'beta', clear: B, policies: ['small'], allowed: ['other'] }),
].join('');

interface Fetched {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

async function get(gw: TestGateway, path: string, key?: string): Promise<Fetched> {
  const res = await fetch(`${gw.url}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

describe.each([
  ['memory', async (): Promise<LimitStore> => new MemoryLimitStore()],
  [
    'redis',
    async (): Promise<LimitStore> => {
      const store = new RedisLimitStore({ url: redis.url, clock: 'caller' });
      expect(await store.ready(5000)).toBe(true);
      return store;
    },
  ],
] as const)('GET /key and /usage on the %s store', (_name, makeStore) => {
  let gw: TestGateway;
  /** What the SDK was told: prompt and completion tokens per model. */
  const used = { cheap: { in: 0, out: 0, n: 0 }, other: { in: 0, out: 0, n: 0 } };

  beforeAll(async () => {
    gw = await startTestGateway({ yaml: YAML, clock: () => NOW, store: await makeStore() });
    const client = gw.client(A);
    for (const [model, n] of [
      ['cheap', 2],
      ['other', 1],
    ] as const) {
      for (let i = 0; i < n; i++) {
        const r = await client.chat.completions.create({ model, max_tokens: 50, messages: [{ role: 'user', content: `hello number ${i}` }] });
        used[model].in += r.usage?.prompt_tokens ?? NaN;
        used[model].out += r.usage?.completion_tokens ?? NaN;
        used[model].n += 1;
      }
    }
  });
  afterAll(async () => {
    await gw?.close();
    await gw?.store.close();
  });

  const tokens = (m: keyof typeof used): number => used[m].in + used[m].out;
  /** price 1.00 / 2.00 per million: 1000 and 2000 nanos a token. */
  const cost = (m: keyof typeof used): number => (used[m].in * 1000 + used[m].out * 2000) / 1e9;

  it('tells the key holder their key, limits with what is left now, budgets and usage, exactly', async () => {
    const res = await get(gw, '/api/v1/key', A);
    expect(res.status, res.text).toBe(200);
    const all = tokens('cheap') + tokens('other');
    const spent = cost('cheap') + cost('other');
    const data = res.json['data'] as Record<string, unknown>;
    expect(data).toMatchObject({
      label: 'Alpha search',
      limit: 2.5,
      usage: spent,
      limit_remaining: Number((2.5 - spent).toFixed(9)),
      usage_daily: spent,
      usage_monthly: spent,
      rate_limit: { requests: 10, tokens: 5000, interval: '1m' },
      id: 'default/alpha',
      name: 'alpha',
      namespace: 'default',
      owner: 'team-alpha',
      disabled: false,
      expires_at: '2027-06-30T00:00:00.000Z',
      allowed_models: ['cheap', 'other'],
      quota_policies: ['team'],
      shadow_quota_policies: [],
      currency: 'USD',
      usage_tokens: { daily: all, monthly: all, total: all },
    });
    expect(data['fingerprint']).toMatch(/^[0-9a-f]{12}$/);
    expect(data['rate_limits']).toEqual({
      key: {
        requests: { limit: 10, remaining: 7, reset_ms: 18_000 },
        tokens: { limit: 5000, remaining: 5000 - all, reset_ms: Math.ceil((all * 60_000) / 5000) },
      },
      models: { cheap: { requests: { limit: 4, remaining: 2, reset_ms: 30_000 } } },
    });
    expect(data['budgets']).toEqual({
      tokens: { day: { limit: 100000, used: all, remaining: 100000 - all, resets_at: '2026-11-29T00:00:00.000Z' } },
      cost: {
        month: { limit: 5, used: spent, remaining: Number((5 - spent).toFixed(9)), resets_at: '2026-12-01T00:00:00.000Z' },
        total: { limit: 2.5, used: spent, remaining: Number((2.5 - spent).toFixed(9)), resets_at: null },
      },
    });
  });

  it('answers the same under /v1/key, and a look reserves nothing (remaining does not move)', async () => {
    const first = await get(gw, '/v1/key', A);
    const second = await get(gw, '/api/v1/key', A);
    expect(first.status).toBe(200);
    expect(first.json).toEqual(second.json);
  });

  it("shows another key only its own data, and no query can point it at someone else's", async () => {
    for (const path of ['/api/v1/key', '/api/v1/key?key=default/alpha&id=default/alpha', '/api/v1/usage?period=day&group_by=model&key=default/alpha']) {
      const res = await get(gw, path, B);
      expect(res.status, res.text).toBe(200);
      expect(res.text).not.toMatch(/alpha|cheap|team/i);
    }
    const data = (await get(gw, '/api/v1/key', B)).json['data'] as Record<string, unknown>;
    expect(data).toMatchObject({
      id: 'default/beta',
      label: 'beta',
      owner: null,
      limit: null,
      usage: 0,
      limit_remaining: null,
      usage_daily: 0,
      expires_at: null,
    });
    expect(data['rate_limits']).toEqual({ key: { requests: { limit: 3, remaining: 3, reset_ms: 0 } }, models: {} });
    expect(data['budgets']).toEqual({ tokens: {}, cost: {} });
    const usage = (await get(gw, '/api/v1/usage?group_by=model', B)).json;
    expect(usage['data']).toEqual([]);
  });

  it('GET /usage lists the caller’s own rows per model, or one total', async () => {
    const byModel = await get(gw, '/api/v1/usage?period=day&group_by=model', A);
    expect(byModel.status, byModel.text).toBe(200);
    expect(byModel.json).toEqual({
      object: 'list',
      period: 'day',
      period_id: 'd2026-11-28',
      data: (['cheap', 'other'] as const).map((m) => ({
        model: m,
        requests: used[m].n,
        input_tokens: used[m].in,
        output_tokens: used[m].out,
        total_tokens: tokens(m),
        cost: cost(m),
      })),
    });
    const month = await get(gw, '/v1/usage?period=month', A);
    expect(month.json['period_id']).toBe('m2026-11');
    expect(month.json['data']).toEqual([
      {
        requests: 3,
        input_tokens: used.cheap.in + used.other.in,
        output_tokens: used.cheap.out + used.other.out,
        total_tokens: tokens('cheap') + tokens('other'),
        cost: cost('cheap') + cost('other'),
      },
    ]);
  });

  it('refuses bad parameters and unauthenticated callers in the OpenAI error shape', async () => {
    const badPeriod = await get(gw, '/api/v1/usage?period=year', A);
    expect(badPeriod.status).toBe(400);
    expect(badPeriod.json).toMatchObject({ error: { param: 'period', type: 'invalid_request_error' } });
    const badGroup = await get(gw, '/api/v1/usage?group_by=key', A);
    expect(badGroup.status).toBe(400);
    expect(badGroup.json).toMatchObject({ error: { param: 'group_by' } });
    for (const path of ['/api/v1/key', '/api/v1/usage']) {
      expect((await get(gw, path)).status).toBe(401);
      const wrong = await get(gw, path, 'th-not-a-key');
      expect(wrong.status).toBe(401);
      expect(wrong.json).toMatchObject({ error: { code: 'invalid_api_key' } });
    }
  });
});
