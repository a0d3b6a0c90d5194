/**
 * Issue #10: every token that reaches an upstream is charged. Each attack of the issue, against
 * a gateway on a real Redis store with the project's mock upstream over HTTP: the status the
 * client sees and the exact amounts the store holds afterwards (usage rows and budget counters).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { formatNanos } from '../../src/billing/money.js';
import { parseChatRequest } from '../../src/gateway/request/chat-request.js';
import type { ChatEvent } from '../../src/gateway/routes/chat-completions.js';
import { accessLogLine } from '../../src/telemetry/access-log.js';
import { estimateInputTokens, textTokens } from '../../src/gateway/request/estimate.js';
import { budgetId } from '../../src/limits/plan.js';
import { periodIds } from '../../src/limits/periods.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import { type TestGateway, closedPort, eventually, expectOpenAIError, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

let redis: RedisServer;
let store: RedisLimitStore;
let gw: TestGateway;

const KEYS = [
  'abort',
  'lost',
  'sabort',
  'delta',
  'timeout',
  'optin',
  'fanout',
  'overload',
  'refused',
  'nores',
  'neg',
  'deep',
  'valid',
  'reserve',
  'think',
] as const;
type KeyName = (typeof KEYS)[number];
const clear = (k: KeyName): string => `th-charge-${k}`;
const POLICIES: Partial<Record<KeyName, string[]>> = { timeout: ['rpm2'], refused: ['rpm2'], neg: ['budget'], reserve: ['tpm'], think: ['tpm'] };

/** A ModelRoute on the mock with extra spec lines (failover, providerParameters, limits…). */
const route = (name: string, opts: Omit<Parameters<typeof modelYaml>[0], 'name'> & { extra?: string[]; limits?: string } = {}): string => {
  let y = modelYaml({ contextWindow: 32768, maxOutput: 1024, ...opts, name, price: ['1', '2'] });
  if (opts.limits !== undefined) y = y.replace(/maxOutput: (\d+)\}/, `maxOutput: $1, ${opts.limits}}`);
  return y + (opts.extra ?? []).map((l) => `  ${l}\n`).join('');
};

beforeAll(async () => {
  const refused = `http://127.0.0.1:${await closedPort()}/v1`;
  redis = await startRedis();
  store = new RedisLimitStore({ url: redis.url });
  await store.ready();
  gw = await startTestGateway({
    store,
    yaml: [
      route('slow-answer'),
      route('reasoner'),
      route('lost-answer', { timeoutSeconds: 1 }),
      route('hangs', { timeoutSeconds: 1, fallback: ['hang-fb'] }),
      route('hangs-optin', { timeoutSeconds: 1, fallback: ['hang-fb'], extra: ['failover: {retryOn: [timeout]}'] }),
      route('hang-fb'),
      route('fails', {
        backends: [
          { name: 'a', upstreamModel: 'fails-a' },
          { name: 'b', upstreamModel: 'fails-b' },
        ],
        fallback: ['fails-2', 'fails-3'],
      }),
      route('fails-2', { backends: [{ name: 'a', upstreamModel: 'fails-2' }] }),
      route('fails-3', { backends: [{ name: 'a', upstreamModel: 'fails-3' }] }),
      route('busy', { fallback: ['busy-fb'] }),
      route('down-1', { baseURL: refused, fallback: ['busy-fb'] }),
      route('down-2', { baseURL: refused, fallback: ['busy-fb'] }),
      route('busy-fb'),
      route('no-usage'),
      route('liar'),
      route('deep'),
      route('deep-fb'),
      route('plain'),
      route('ark', { capabilities: ['text', 'thinking'], limits: 'maxReasoning: 500', extra: ['providerParameters: [thinking]'] }),
      route('multi', { limits: 'maxChoices: 4' }),
      // The catalog's doubao-seed-2-0-pro limits: chains of thought of up to 131072 tokens.
      route('pro', {
        capabilities: ['text', 'thinking'],
        contextWindow: 262144,
        maxOutput: 131072,
        limits: 'maxReasoning: 131072',
        extra: ['providerParameters: [thinking]'],
      }),
      policyYaml('rpm2', '{rateLimits: {rpm: 2}}'),
      policyYaml('budget', '{budgets: {tokens: {day: 100000}}}'),
      policyYaml('tpm', '{rateLimits: {tpm: 1000000}}'),
      ...KEYS.map((k) => keyYaml({ name: k, clear: clear(k), policies: POLICIES[k] ?? [] })),
    ].join(''),
  });
});
afterAll(async () => {
  await gw?.close();
  await store?.close();
  await redis?.stop();
});

interface Row {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costNanos: number;
}
/** Today's usage of one key, by model. */
async function usage(k: KeyName): Promise<Record<string, Row>> {
  const rows = await store.usage({ periodId: periodIds(new Date()).day, keyId: `default/${k}` });
  return Object.fromEntries(
    rows.map((r) => [r.model, { requests: r.requests, inputTokens: r.inputTokens, outputTokens: r.outputTokens, costNanos: r.costNanos }]),
  );
}
/** Cost at the test price (1 per million input, 2 per million output), in nanos. */
const cost = (input: number, output: number): number => input * 1000 + output * 2000;
const estimate = (body: Record<string, unknown>): number => estimateInputTokens(parseChatRequest(body));
const calls = (model: string): number => gw.mock.stats().byModel[model] ?? 0;

describe('a request that was sent is never free', () => {
  it('a non-stream call the client drops after 1 s is read to its end and billed by the upstream usage (40 kB prompt)', async () => {
    gw.mock.setBehaviour('slow-answer', { latencyMs: 1500 });
    const prompt = 'word '.repeat(8000);
    const before = gw.mock.stats().usage;
    const call = gw.client(clear('abort'), { timeout: 1000 }).chat.completions.create({ model: 'slow-answer', messages: [{ role: 'user', content: prompt }] });
    await expect(call).rejects.toThrow(OpenAI.APIConnectionTimeoutError);
    await eventually(async () => (await usage('abort'))['slow-answer'] !== undefined, 5000);
    const after = gw.mock.stats().usage;
    const input = after.promptTokens - before.promptTokens;
    const output = after.completionTokens - before.completionTokens;
    expect(input).toBeGreaterThan(8000);
    expect(output).toBe(16);
    expect((await usage('abort'))['slow-answer']).toEqual({ requests: 1, inputTokens: input, outputTokens: output, costNanos: cost(input, output) });
    expect(gw.events.find((e) => e.keyId === 'default/abort')?.result).toMatchObject({ status: 499, clientGone: true });
  });

  it('a non-stream call the client drops whose answer then never comes is charged the input estimate and the reserved output', async () => {
    gw.mock.setBehaviour('lost-answer', { hang: true });
    const body = { model: 'lost-answer', max_tokens: 50, messages: [{ role: 'user' as const, content: 'word '.repeat(100) }] };
    await expect(gw.client(clear('lost'), { timeout: 300 }).chat.completions.create(body)).rejects.toThrow(OpenAI.APIConnectionTimeoutError);
    await eventually(async () => (await usage('lost'))['lost-answer'] !== undefined, 5000);
    const input = estimate(body);
    expect(await usage('lost')).toEqual({ 'lost-answer': { requests: 1, inputTokens: input, outputTokens: 50, costNanos: cost(input, 50) } });
  });

  it('a stream the client drops before its first chunk (long prefill) is charged the input estimate', async () => {
    gw.mock.setBehaviour('slow-answer', { latencyMs: 1500 });
    const body = { model: 'slow-answer', stream: true, messages: [{ role: 'user', content: 'word '.repeat(2000) }] };
    const abort = new AbortController();
    const pending = fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${clear('sabort')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await eventually(() => gw.mock.stats().lastRequest !== undefined && calls('slow-answer') >= 2);
    abort.abort();
    await expect(pending).rejects.toThrow();
    await eventually(async () => (await usage('sabort'))['slow-answer'] !== undefined, 5000);
    const input = estimate(body);
    expect((await usage('sabort'))['slow-answer']).toEqual({ requests: 1, inputTokens: input, outputTokens: 0, costNanos: cost(input, 0) });
  });

  it.each(['reasoning_content', 'reasoning', 'refusal', 'tool_calls', 'function_call', 'audio'])(
    'a stream of %s deltas cut after 3 chunks is charged the input estimate and 3 output tokens',
    async (deltaField) => {
      gw.mock.setBehaviour('reasoner', { deltaField: deltaField as never, cutAfterChunks: 3, completionTokens: 50 });
      const body = { model: 'reasoner', stream: true, messages: [{ role: 'user', content: `think about ${deltaField}` }] };
      const before = (await usage('delta'))['reasoner'] ?? { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 };
      const res = await postChat(gw.baseURL, { key: clear('delta'), body });
      expect(res.status).toBe(200);
      expect(res.text).toContain('upstream_stream_cut');
      const row = (await usage('delta'))['reasoner'] as Row;
      const input = estimate(body);
      expect({
        requests: row.requests - before.requests,
        inputTokens: row.inputTokens - before.inputTokens,
        outputTokens: row.outputTokens - before.outputTokens,
      }).toEqual({ requests: 1, inputTokens: input, outputTokens: 3 });
    },
  );
});

describe('failures after send are charged and do not fan out for free', () => {
  it('a timeout after send keeps the RPM, charges the input and does not fall back by default', async () => {
    gw.mock.setBehaviour('hangs', { hang: true });
    const body = { model: 'hangs', messages: [{ role: 'user', content: 'take your time' }] };
    const timedOut = await postChat(gw.baseURL, { key: clear('timeout'), body });
    expectOpenAIError(timedOut, { status: 504, code: 'upstream_timeout' });
    expect(calls('hang-fb')).toBe(0);
    const input = estimate(body);
    expect(await usage('timeout')).toEqual({ hangs: { requests: 1, inputTokens: input, outputTokens: 0, costNanos: cost(input, 0) } });
    // The access log line says what it cost (it said 0 before).
    await eventually(() => gw.events.some((e) => e.keyId === 'default/timeout'));
    const line = accessLogLine(gw.events.find((e) => e.keyId === 'default/timeout') as ChatEvent);
    expect(line).toMatchObject({ status: 504, inputTokens: input, outputTokens: 0, cost: formatNanos(cost(input, 0)) });
    // rpm 2: the timed-out call counts, so one more passes and the third is refused.
    expect((await postChat(gw.baseURL, { key: clear('timeout'), body: { model: 'plain', messages: [{ role: 'user', content: 'hi' }] } })).status).toBe(200);
    expectOpenAIError(await postChat(gw.baseURL, { key: clear('timeout'), body: { model: 'plain', messages: [{ role: 'user', content: 'hi' }] } }), {
      status: 429,
      code: 'rate_limit_exceeded',
    });
  });

  it('a route that opts in falls back after a timeout; both attempts are charged', async () => {
    gw.mock.setBehaviour('hangs-optin', { hang: true });
    const body = { model: 'hangs-optin', messages: [{ role: 'user', content: 'take your time' }] };
    const res = await postChat(gw.baseURL, { key: clear('optin'), body });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokenhub-model')).toBe('hang-fb');
    const input = estimate(body);
    const u = (res.json as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(await usage('optin')).toEqual({
      'hangs-optin': { requests: 1, inputTokens: input, outputTokens: 0, costNanos: cost(input, 0) },
      'hang-fb': { requests: 1, inputTokens: u.prompt_tokens, outputTokens: u.completion_tokens, costNanos: cost(u.prompt_tokens, u.completion_tokens) },
    });
  });

  it('upstream 500s fan out to at most 3 attempts (backends and fallbacks together), each charged its input', async () => {
    for (const m of ['fails-a', 'fails-b', 'fails-2', 'fails-3']) gw.mock.setBehaviour(m, { status: 500 });
    const body = { model: 'fails', messages: [{ role: 'user', content: 'please' }] };
    const res = await postChat(gw.baseURL, { key: clear('fanout'), body });
    expectOpenAIError(res, { status: 502, code: 'upstream_error' });
    expect(calls('fails-a') + calls('fails-b') + calls('fails-2') + calls('fails-3')).toBe(3);
    expect(calls('fails-3')).toBe(0);
    const input = estimate(body);
    const rows = await usage('fanout');
    expect(Object.values(rows).reduce((s, r) => s + r.requests, 0)).toBe(3);
    expect(Object.values(rows).reduce((s, r) => s + r.inputTokens, 0)).toBe(3 * input);
    expect(Object.values(rows).reduce((s, r) => s + r.outputTokens, 0)).toBe(0);
  });

  it('an upstream 429 falls back; the refused attempt is charged no tokens', async () => {
    gw.mock.setBehaviour('busy', { status: 429 });
    const res = await postChat(gw.baseURL, { key: clear('overload'), body: { model: 'busy', messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokenhub-model')).toBe('busy-fb');
    expect(Object.keys(await usage('overload'))).toEqual(['busy-fb']);
  });
});

describe('attempts that were never sent are free', () => {
  it('a refused connection is refunded in full (RPM too): with rpm 2, two requests that fall back pass, the third is limited', async () => {
    for (const model of ['down-1', 'down-2']) {
      const res = await postChat(gw.baseURL, { key: clear('refused'), body: { model, messages: [{ role: 'user', content: 'hi' }] } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-tokenhub-model')).toBe('busy-fb');
    }
    expectOpenAIError(await postChat(gw.baseURL, { key: clear('refused'), body: { model: 'plain', messages: [{ role: 'user', content: 'hi' }] } }), {
      status: 429,
      code: 'rate_limit_exceeded',
    });
    expect(Object.keys(await usage('refused'))).toEqual(['busy-fb']);
    expect((await usage('refused'))['busy-fb']?.requests).toBe(2);
  });
});

describe('upstream usage is checked', () => {
  it('a non-stream 200 without usage is billed from the estimate and the returned text, marked estimated', async () => {
    gw.mock.setBehaviour('no-usage', { omitUsage: true });
    const body = { model: 'no-usage', messages: [{ role: 'user', content: 'tell me something' }] };
    const res = await postChat(gw.baseURL, { key: clear('nores'), body });
    expect(res.status).toBe(200);
    const text = (res.json as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
    const input = estimate(body);
    const output = textTokens(text);
    expect(output).toBeGreaterThan(0);
    expect(await usage('nores')).toEqual({ 'no-usage': { requests: 1, inputTokens: input, outputTokens: output, costNanos: cost(input, output) } });
    await eventually(() => gw.events.some((e) => e.keyId === 'default/nores'));
    expect(gw.events.find((e) => e.keyId === 'default/nores')?.result?.usage).toMatchObject({ estimated: true });
  });

  it('negative upstream counts are clamped to 0 and never add budget back', async () => {
    gw.mock.setBehaviour('liar', { reportedPromptTokens: -5000, reportedCompletionTokens: 7 });
    const res = await postChat(gw.baseURL, { key: clear('neg'), body: { model: 'liar', messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(200);
    expect(await usage('neg')).toEqual({ liar: { requests: 1, inputTokens: 0, outputTokens: 7, costNanos: cost(0, 7) } });
    expect(await store.budgetUsed(budgetId('default/neg', 'tokens', periodIds(new Date()).day))).toBe(7);
  });
});

describe('client faults are client errors', () => {
  /** JSON text nested 200 000 deep: JSON.parse takes it, JSON.stringify of the result overflows. */
  const DEEP = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;

  it.each([
    ['tools', `{"model":"deep","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${DEEP}}}]}`],
    ['a message part', `{"model":"deep","messages":[{"role":"user","content":[{"type":"text","text":"hi","extra":${DEEP}}]}]}`],
  ])('a body nested too deep to re-serialise (in %s) is a 400 that never reaches or cools the backend', async (_where, body) => {
    const before = calls('deep');
    const res = await postChat(gw.baseURL, { key: clear('deep'), body });
    expectOpenAIError(res, { status: 400, code: 'invalid_value' });
    expect(calls('deep')).toBe(before);
    // Not cooled: the primary still answers first although a fallback is offered.
    const next = await postChat(gw.baseURL, {
      key: clear('deep'),
      body: { model: 'deep', messages: [{ role: 'user', content: 'hi' }], fallback_models: ['deep-fb'] },
    });
    expect(next.headers.get('x-tokenhub-model')).toBe('deep');
    expect(Object.keys(await usage('deep'))).toEqual(['deep']);
  });
});

describe('the forwarded body is validated', () => {
  const hi = { model: 'plain', messages: [{ role: 'user', content: 'hi' }] };

  it.each([
    ['stream', 'true', 'invalid_type'],
    ['n', '2', 'invalid_type'],
    ['n', 0, 'invalid_value'],
    ['n', 1.5, 'invalid_type'],
    ['temperature', 'hot', 'invalid_type'],
    ['temperature', 3, 'invalid_value'],
    ['max_tokens', '10', 'invalid_type'],
    ['stream_options', true, 'invalid_type'],
    ['tools', {}, 'invalid_type'],
  ])('%s = %j is a 400 naming it; the upstream is not called', async (param, value, code) => {
    const before = calls('plain');
    expectOpenAIError(await postChat(gw.baseURL, { key: clear('valid'), body: { ...hi, [param]: value } }), { status: 400, code, param });
    expect(calls('plain')).toBe(before);
  });

  it('an unknown field is a 400 unknown_parameter naming it, unless the route passes it through', async () => {
    const refused = await postChat(gw.baseURL, { key: clear('valid'), body: { ...hi, frobnicate: 1 } });
    expectOpenAIError(refused, { status: 400, code: 'unknown_parameter', param: 'frobnicate' });
    expectOpenAIError(await postChat(gw.baseURL, { key: clear('valid'), body: { ...hi, thinking: { type: 'enabled' } } }), {
      status: 400,
      code: 'unknown_parameter',
      param: 'thinking',
    });
    const passed = await postChat(gw.baseURL, {
      key: clear('valid'),
      body: { model: 'ark', messages: hi.messages, thinking: { type: 'enabled' }, fallback_models: ['plain'] },
    });
    expect(passed.status).toBe(200);
    expect(passed.headers.get('x-tokenhub-model')).toBe('ark');
    expect((gw.mock.stats().lastRequest?.body as Record<string, unknown>)['thinking']).toEqual({ type: 'enabled' });
    expect((gw.mock.stats().lastRequest?.body as Record<string, unknown>)['fallback_models']).toBeUndefined();
  });
});

describe('reservations bound the real cost', () => {
  const mine = () => gw.events.filter((e) => e.keyId === 'default/reserve');
  const reserved = (): number | undefined => mine().at(-1)?.result?.reservedTokens;
  /** Sends, then waits for the request's event (recorded just after the answer is written). */
  const send = async (body: Record<string, unknown>) => {
    const seen = mine().length;
    const res = await postChat(gw.baseURL, { key: clear('reserve'), body: { messages: [{ role: 'user', content: 'hi' }], ...body } });
    await eventually(() => mine().length > seen);
    return res;
  };

  it('n × max_tokens is reserved; n above the route cap (default 1) and conflicting max_tokens are 400s', async () => {
    expectOpenAIError(await send({ model: 'plain', n: 5, max_tokens: 10, max_completion_tokens: 1 }), {
      status: 400,
      code: null,
      param: 'max_completion_tokens',
    });
    expectOpenAIError(await send({ model: 'plain', n: 2, max_tokens: 10 }), { status: 400, code: 'invalid_value', param: 'n' });
    expect((await send({ model: 'multi', n: 3, max_tokens: 10 })).status).toBe(200);
    expect(reserved()).toBe(estimate({ model: 'multi', messages: [{ role: 'user', content: 'hi' }] }) + 30);
    expect((await send({ model: 'plain', max_tokens: 10, max_completion_tokens: 10 })).status).toBe(200);
    expect(reserved()).toBe(estimate({ model: 'plain', messages: [{ role: 'user', content: 'hi' }] }) + 10);
  });

  /** The output bounds the mock upstream received with the last request. */
  const forwarded = () => {
    const body = gw.mock.stats().lastRequest?.body as Record<string, unknown>;
    return { max_tokens: body['max_tokens'], max_completion_tokens: body['max_completion_tokens'] };
  };

  it("a thinking model's reasoning allowance goes upstream inside max_completion_tokens and is reserved; not with the client's own bound or thinking off", async () => {
    const input = estimate({ model: 'ark', messages: [{ role: 'user', content: 'hi' }] });
    // The default allowance is min(16384, maxReasoning): 500 here.
    expect((await send({ model: 'ark', max_tokens: 10 })).status).toBe(200);
    expect(reserved()).toBe(input + 10 + 500);
    expect(forwarded()).toEqual({ max_completion_tokens: 510 });
    expect((await send({ model: 'ark', max_completion_tokens: 10 })).status).toBe(200);
    expect(reserved()).toBe(input + 10);
    expect(forwarded()).toEqual({ max_completion_tokens: 10 });
    expect((await send({ model: 'ark', max_tokens: 10, thinking: { type: 'disabled' } })).status).toBe(200);
    expect(reserved()).toBe(input + 10);
    expect(forwarded()).toEqual({ max_tokens: 10 });
  });

  it('a default request to a model with 131072 tokens of reasoning reserves max_tokens + the default allowance, which is what the upstream may produce', async () => {
    const body = { model: 'pro', messages: [{ role: 'user' as const, content: 'hi' }] };
    const res = await postChat(gw.baseURL, { key: clear('think'), body });
    expect(res.status).toBe(200);
    const reservation = estimate(body) + 4096 + 16384;
    // The key's TPM counter right after admission: the policy's 1000000 less this reservation.
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe(String(1_000_000 - reservation));
    expect(forwarded()).toEqual({ max_completion_tokens: 4096 + 16384 });
    await eventually(() => gw.events.some((e) => e.keyId === 'default/think'));
    expect(gw.events.find((e) => e.keyId === 'default/think')?.result?.reservedTokens).toBe(reservation);
  });

  it('a thinking upstream that reasons until it is stopped ends at the forwarded bound: charged no more than reserved', async () => {
    gw.mock.setBehaviour('pro', { completionTokens: 1_000_000, deltaField: 'reasoning_content' });
    const before = (await usage('think'))['pro']?.outputTokens ?? 0;
    const seen = gw.events.filter((e) => e.keyId === 'default/think').length;
    const res = await postChat(gw.baseURL, { key: clear('think'), body: { model: 'pro', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] } });
    gw.mock.setBehaviour('pro', undefined);
    expect(res.status).toBe(200);
    expect((res.json as { choices: { finish_reason: string }[] }).choices[0]?.finish_reason).toBe('length');
    await eventually(
      async () => gw.events.filter((e) => e.keyId === 'default/think').length > seen && ((await usage('think'))['pro']?.outputTokens ?? 0) > before,
    );
    expect(((await usage('think'))['pro']?.outputTokens ?? 0) - before).toBe(100 + 16384);
  });
});
