/**
 * Limits through the gateway: RPM and TPM per key, per key×model and per model fleet-wide, the
 * x-ratelimit-* and Retry-After headers, reservation and reconciliation of tokens, budgets, and
 * the official SDK's retry behaviour on each kind of 429. The clock of the first gateway stands
 * still (until the last test moves it past midnight), so every header value is exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { type RawResponse, type TestGateway, eventually, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';

/** 2026-11-28 23:59:50 UTC: ten seconds before the day budget rolls over. */
let now = Date.UTC(2026, 10, 28, 23, 59, 50);
let gw: TestGateway;

const K = {
  rpm: 'th-lim-rpm',
  tpm: 'th-lim-tpm',
  held: 'th-lim-held',
  keyModel: 'th-lim-km',
  fleetA: 'th-lim-fa',
  fleetB: 'th-lim-fb',
  budget: 'th-lim-budget',
  day: 'th-lim-day',
  dup: 'th-lim-dup',
} as const;

/** `hello` is estimated at 9 input tokens (2 of text, 4 for the message, 3 for the request). */
const hello = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'hello' }], ...extra });
const send = (key: string, body: unknown, headers?: Record<string, string>): Promise<RawResponse> =>
  postChat(gw.baseURL, { key, body, ...(headers ? { headers } : {}) });
const header = (res: RawResponse, name: string): string | null => res.headers.get(name);

beforeAll(async () => {
  gw = await startTestGateway({
    clock: () => now,
    yaml: [
      modelYaml({ name: 'm' }),
      modelYaml({ name: 'slow' }),
      modelYaml({ name: 'm-capped' }),
      modelYaml({ name: 'fleet', rpm: 2 }),
      policyYaml('rpm9', '{rateLimits: {rpm: 9}}'),
      policyYaml('tpm1000', '{rateLimits: {tpm: 1000}}'),
      policyYaml('capped', '{modelRateLimits: [{model: m-capped, rpm: 2}]}'),
      policyYaml('budget', '{budgets: {tokens: {day: 10}}}'),
      keyYaml({ name: 'rpm', clear: K.rpm, policies: ['rpm9'] }),
      keyYaml({ name: 'tpm', clear: K.tpm, policies: ['tpm1000'] }),
      keyYaml({ name: 'held', clear: K.held, policies: ['tpm1000'] }),
      keyYaml({ name: 'dup', clear: K.dup, policies: ['tpm1000'] }),
      keyYaml({ name: 'km', clear: K.keyModel, policies: ['capped'] }),
      keyYaml({ name: 'fa', clear: K.fleetA }),
      keyYaml({ name: 'fb', clear: K.fleetB }),
      keyYaml({ name: 'budget', clear: K.budget, policies: ['budget'] }),
      keyYaml({ name: 'day', clear: K.day, policies: ['budget'] }),
    ].join(''),
  });
});
afterAll(async () => gw?.close());

describe('RPM per key', () => {
  it('with rpm 9, nine requests pass (float rounding refused the ninth) and the tenth gets 429 with the rate headers', async () => {
    for (let i = 1; i <= 9; i++) {
      const ok = await send(K.rpm, hello('m'));
      expect(ok.status, `request ${i}`).toBe(200);
      expect(header(ok, 'x-ratelimit-limit-requests')).toBe('9');
      expect(header(ok, 'x-ratelimit-remaining-requests')).toBe(String(9 - i));
    }
    const denied = await send(K.rpm, hello('m'));
    expect(denied.status).toBe(429);
    expect((denied.json as { error: { code: string; type: string } }).error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(header(denied, 'x-ratelimit-limit-requests')).toBe('9');
    expect(header(denied, 'x-ratelimit-remaining-requests')).toBe('0');
    // one request every 60/9 s: the clock stands still, so the wait is exactly one interval
    expect(header(denied, 'retry-after-ms')).toBe('6667');
    expect(header(denied, 'retry-after')).toBe('7');
  });
});

describe('TPM per key', () => {
  it('reserves the input estimate plus max_tokens, and shows it in the token headers', async () => {
    const res = await send(K.tpm, hello('m', { max_tokens: 100 }));
    expect(res.status).toBe(200);
    expect(header(res, 'x-ratelimit-limit-tokens')).toBe('1000');
    expect(header(res, 'x-ratelimit-remaining-tokens')).toBe(String(1000 - (9 + 100)));
  });

  it('reconciles with the real usage: the next request sees the refund', async () => {
    // the first request above really used 7 prompt + 16 completion tokens
    const res = await send(K.tpm, hello('m', { max_tokens: 100 }));
    expect(header(res, 'x-ratelimit-remaining-tokens')).toBe(String(1000 - 23 - 109));
  });

  it('holds the reservation while a request is in flight: a concurrent one that does not fit gets 429 tokens', async () => {
    gw.mock.setBehaviour('slow', { latencyMs: 400 });
    try {
      const seen = (): number => gw.mock.stats().byModel['slow'] ?? 0;
      const before = seen();
      const inFlight = send(K.held, hello('slow', { max_tokens: 900 }));
      // Admitted (its tokens reserved) once it reached the upstream, where it now waits 400 ms.
      await eventually(() => seen() > before, 2_000);
      const denied = await send(K.held, hello('m', { max_tokens: 200 }));
      expect(denied.status).toBe(429);
      expect((denied.json as { error: { type: string } }).error.type).toBe('tokens');
      expect(header(denied, 'x-ratelimit-remaining-tokens')).toBe(String(1000 - 909));
      expect(header(denied, 'retry-after-ms')).toBe(String((909 + 209 - 1000) * 60));
      expect((await inFlight).status).toBe(200);
      // settled at 23 real tokens: now it fits
      expect((await send(K.held, hello('m', { max_tokens: 200 }))).status).toBe(200);
    } finally {
      gw.mock.setBehaviour('slow', undefined);
    }
  });

  it('a request larger than the whole limit is refused with x-should-retry: false', async () => {
    const res = await send(K.held, hello('m', { max_tokens: 1000 }));
    expect(res.status).toBe(429);
    expect(header(res, 'x-should-retry')).toBe('false');
  });

  it('two requests that share a client x-request-id are both reconciled and recorded', async () => {
    const same = { 'x-request-id': 'client-chosen-id-1' };
    await send(K.dup, hello('m', { max_tokens: 100 }), same);
    await send(K.dup, hello('m', { max_tokens: 100 }), same);
    const third = await send(K.dup, hello('m', { max_tokens: 100 }));
    expect(header(third, 'x-ratelimit-remaining-tokens')).toBe(String(1000 - 23 - 23 - 109));
    const rows = await gw.store.usage({ periodId: 'total', keyId: 'default/dup' });
    expect(rows[0]).toMatchObject({ requests: 3, inputTokens: 21, outputTokens: 48 });
  });
});

describe('RPM per key×model and per model fleet-wide', () => {
  it('modelRateLimits limit one model of the key, not the others', async () => {
    expect((await send(K.keyModel, hello('m-capped'))).status).toBe(200);
    expect((await send(K.keyModel, hello('m-capped'))).status).toBe(200);
    const denied = await send(K.keyModel, hello('m-capped'));
    expect(denied.status).toBe(429);
    expect(header(denied, 'x-ratelimit-limit-requests')).toBe('2');
    expect(header(denied, 'x-ratelimit-remaining-requests')).toBe('0');
    expect(header(denied, 'retry-after')).toBe('30');
    expect((await send(K.keyModel, hello('m'))).status).toBe(200);
  });

  it("a ModelRoute's rateLimits hold across all keys, with the headers of that limit", async () => {
    expect((await send(K.fleetA, hello('fleet'))).status).toBe(200);
    expect((await send(K.fleetB, hello('fleet'))).status).toBe(200);
    for (const key of [K.fleetA, K.fleetB]) {
      const denied = await send(key, hello('fleet'));
      expect(denied.status).toBe(429);
      expect((denied.json as { error: { message: string } }).error.message).toMatch(/all keys/);
      expect(header(denied, 'retry-after-ms')).toBe('30000');
      expect(header(denied, 'x-ratelimit-limit-requests')).toBe('2');
      expect(header(denied, 'x-ratelimit-remaining-requests')).toBe('0');
    }
  });
});

describe('budgets', () => {
  it('insufficient_quota once the day budget is spent, and the SDK does not retry it', async () => {
    expect((await send(K.budget, hello('m'))).status).toBe(200);
    const mockBefore = gw.mock.stats().requests;
    const eventsBefore = gw.events.length;
    const client = gw.client(K.budget, { maxRetries: 2 });
    await expect(client.chat.completions.create(hello('m') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
      constructor: OpenAI.RateLimitError,
      code: 'insufficient_quota',
    });
    expect(gw.events.length).toBe(eventsBefore + 1);
    expect(gw.mock.stats().requests).toBe(mockBefore);
  });

  it('the day budget starts again at midnight UTC', async () => {
    expect((await send(K.day, hello('m'))).status).toBe(200);
    const spent = await send(K.day, hello('m'));
    expect(spent.status).toBe(429);
    expect((spent.json as { error: { code: string } }).error.code).toBe('insufficient_quota');
    expect(header(spent, 'retry-after')).toBe('10');
    now += 11_000;
    expect((await send(K.day, hello('m'))).status).toBe(200);
  });
});

describe('the SDK honours Retry-After', () => {
  let live: TestGateway;
  const KEY = 'th-lim-live';
  beforeAll(async () => {
    live = await startTestGateway({
      yaml: modelYaml({ name: 'm' }) + policyYaml('rpm60', '{rateLimits: {rpm: 60}}') + keyYaml({ name: 'live', clear: KEY, policies: ['rpm60'] }),
    });
  });
  afterAll(async () => live?.close());

  it('a client with maxRetries 2 waits retry-after-ms and then succeeds', async () => {
    const burst = await Promise.all(Array.from({ length: 60 }, () => postChat(live.baseURL, { key: KEY, body: hello('m') })));
    expect(burst.every((r) => r.status === 200)).toBe(true);
    const seen: { status: number; retryAfterMs: number }[] = [];
    const client = new OpenAI({
      baseURL: live.baseURL,
      apiKey: KEY,
      maxRetries: 2,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        seen.push({ status: res.status, retryAfterMs: Number(res.headers.get('retry-after-ms')) });
        return res;
      },
    });
    const started = performance.now();
    const answer = await client.chat.completions.create(hello('m') as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const elapsed = performance.now() - started;
    expect(answer.model).toBe('m');
    expect(seen.map((s) => s.status)).toEqual([429, 200]);
    const wait = seen[0]?.retryAfterMs ?? 0;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(1000);
    expect(elapsed).toBeGreaterThanOrEqual(wait);
  });
});
