/**
 * Every error a client can see: the status, the exact OpenAI shape, the code, the headers, the
 * SDK's error class, and no stack trace, key or prompt text in the body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import {
  type RawResponse,
  type TestGateway,
  closedPort,
  expectOpenAIError,
  keyYaml,
  modelYaml,
  policyYaml,
  postChat,
  startTestGateway,
} from '../support/gateway.js';

const KEY = 'th-err-good-0123456789';
const DISABLED = 'th-err-disabled-0123456789';
const EXPIRED = 'th-err-expired-0123456789';
const LIMITED = 'th-err-rpm-0123456789';
const BROKE = 'th-err-budget-0123456789';
/** Sent in every request: no error body may echo it. */
const PROMPT = 'SECRET-PROMPT-TEXT-7f3a';
const KEYS = [KEY, DISABLED, EXPIRED, LIMITED, BROKE];

let gw: TestGateway;
const said: string[] = [];

/** Records every error body, for the no-secrets check at the end. */
async function chat(body: unknown, key: string | null = KEY): Promise<RawResponse> {
  const res = await postChat(gw.baseURL, { ...(key === null ? {} : { key }), body });
  said.push(res.text);
  return res;
}

const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: PROMPT }], ...extra });

beforeAll(async () => {
  const down = await closedPort();
  gw = await startTestGateway({
    gateway: { bodyLimit: 1024 },
    yaml:
      modelYaml({ name: 'plain', capabilities: ['text'], maxOutput: 1024, contextWindow: 8192, maxInput: 60 }) +
      modelYaml({ name: 'hidden' }) +
      modelYaml({ name: 'down', baseURL: `http://127.0.0.1:${down}/v1`, fallback: ['down-too'] }) +
      modelYaml({ name: 'down-too', baseURL: `http://127.0.0.1:${down}/v1` }) +
      modelYaml({ name: 'busy', fallback: ['busy-too'] }) +
      modelYaml({ name: 'busy-too' }) +
      modelYaml({ name: 'stuck', timeoutSeconds: 1 }) +
      policyYaml('one-rpm', '{rateLimits: {rpm: 1}}') +
      policyYaml('tiny-budget', '{budgets: {tokens: {day: 1}}}') +
      keyYaml({ name: 'good', clear: KEY, allowed: ['plain', 'down', 'down-too', 'busy', 'busy-too', 'stuck'] }) +
      keyYaml({ name: 'off', clear: DISABLED, disabled: true }) +
      keyYaml({ name: 'old', clear: EXPIRED, expiresAt: '2020-01-01T00:00:00Z' }) +
      keyYaml({ name: 'limited', clear: LIMITED, allowed: ['plain'], policies: ['one-rpm'] }) +
      keyYaml({ name: 'broke', clear: BROKE, allowed: ['plain'], policies: ['tiny-budget'] }),
  });
  gw.mock.setBehaviour('busy', { status: 503 });
  gw.mock.setBehaviour('busy-too', { status: 429, retryAfterSeconds: 1 });
  gw.mock.setBehaviour('stuck', { hang: true });
});
afterAll(async () => gw?.close());

describe('400 invalid request', () => {
  it('invalid JSON', async () => {
    const res = await postChat(gw.baseURL, { key: KEY, body: `{"model":"plain","messages":[{"role":"user","content":"${PROMPT}"` });
    said.push(res.text);
    expectOpenAIError(res, { status: 400, code: 'invalid_json', type: 'invalid_request_error' });
  });

  it('missing model, missing or empty messages', async () => {
    expectOpenAIError(await chat({ messages: [{ role: 'user', content: PROMPT }] }), { status: 400, code: null, param: 'model' });
    expectOpenAIError(await chat({ model: 'plain' }), { status: 400, code: null, param: 'messages' });
    expectOpenAIError(await chat({ model: 'plain', messages: [] }), { status: 400, code: null, param: 'messages' });
  });

  it("max_tokens above the model's max output, before any upstream call", async () => {
    const before = gw.mock.stats().requests;
    const res = await chat(ask('plain', { max_tokens: 5000 }));
    expectOpenAIError(res, { status: 400, code: 'max_tokens_too_large', param: 'max_tokens' });
    expect((res.json as { error: { message: string } }).error.message).toMatch(/at most 1024/);
    const viaCompletion = await chat(ask('plain', { max_completion_tokens: 5000 }));
    expectOpenAIError(viaCompletion, { status: 400, code: 'max_tokens_too_large', param: 'max_completion_tokens' });
    expect(gw.mock.stats().requests).toBe(before);
  });

  it('input that cannot fit the model', async () => {
    const long = { model: 'plain', messages: [{ role: 'user', content: `${PROMPT} ${'word '.repeat(60)}` }] };
    expectOpenAIError(await chat(long), { status: 400, code: 'context_length_exceeded', param: 'messages' });
  });

  it.each([
    [
      'images',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: PROMPT },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            ],
          },
        ],
      },
      'messages',
      /image input/,
    ],
    ['tools', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }, 'tools', /tool calling/],
    [
      'json_schema',
      { response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } } },
      'response_format',
      /structured output/,
    ],
  ])('a capability the model lacks (%s) is named', async (_what, extra, param, named) => {
    const res = await chat({ ...ask('plain'), ...extra });
    expectOpenAIError(res, { status: 400, code: 'unsupported_capability', param });
    expect((res.json as { error: { message: string } }).error.message).toMatch(named);
  });

  it('raises BadRequestError in the SDK', async () => {
    await expect(
      gw.client(KEY).chat.completions.create({ model: 'plain', max_tokens: 5000, messages: [{ role: 'user', content: PROMPT }] }),
    ).rejects.toMatchObject({ constructor: OpenAI.BadRequestError, status: 400, code: 'max_tokens_too_large' });
  });
});

describe('401 keys', () => {
  it.each([
    ['missing', null, 'missing_api_key'],
    ['unknown', 'th-err-nobody-0123456789', 'invalid_api_key'],
    ['disabled', DISABLED, 'api_key_disabled'],
    ['expired', EXPIRED, 'api_key_expired'],
  ])('%s key → its own code', async (_what, key, code) => {
    expectOpenAIError(await chat(ask('plain'), key), { status: 401, code });
  });

  it('raises AuthenticationError in the SDK', async () => {
    await expect(gw.client(DISABLED).chat.completions.create(ask('plain') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
      constructor: OpenAI.AuthenticationError,
      code: 'api_key_disabled',
    });
  });
});

describe('403 and 404 models', () => {
  it('403 for a model the key may not use; PermissionDeniedError', async () => {
    expectOpenAIError(await chat(ask('hidden')), { status: 403, code: 'model_not_allowed', type: 'permission_error', param: 'model' });
    await expect(gw.client(KEY).chat.completions.create(ask('hidden') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toBeInstanceOf(
      OpenAI.PermissionDeniedError,
    );
  });

  it('404 for an unknown model; NotFoundError', async () => {
    expectOpenAIError(await chat(ask('no-such-model')), { status: 404, code: 'model_not_found', param: 'model' });
    await expect(gw.client(KEY).chat.completions.create(ask('no-such-model') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });
});

describe('413 body too large', () => {
  it('answers 413 in the OpenAI shape for a body above the limit', async () => {
    const res = await chat({ ...ask('plain'), messages: [{ role: 'user', content: `${PROMPT}${'x'.repeat(2000)}` }] });
    expectOpenAIError(res, { status: 413, code: 'request_too_large' });
  });
});

describe('429', () => {
  it('rate_limit_exceeded with Retry-After and x-ratelimit-*; RateLimitError', async () => {
    expect((await chat(ask('plain'), LIMITED)).status).toBe(200);
    const res = await chat(ask('plain'), LIMITED);
    expectOpenAIError(res, { status: 429, code: 'rate_limit_exceeded', type: 'requests' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d/);
    await expect(gw.client(LIMITED).chat.completions.create(ask('plain') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
      constructor: OpenAI.RateLimitError,
      code: 'rate_limit_exceeded',
    });
  });

  it('insufficient_quota with x-should-retry: false once the budget is spent', async () => {
    expect((await chat(ask('plain'), BROKE)).status).toBe(200);
    const res = await chat(ask('plain'), BROKE);
    expectOpenAIError(res, { status: 429, code: 'insufficient_quota', type: 'insufficient_quota' });
    expect(res.headers.get('x-should-retry')).toBe('false');
  });
});

describe('5xx after the fallbacks are exhausted', () => {
  it('502 when no backend accepts a connection', async () => {
    const res = await chat(ask('down'));
    expectOpenAIError(res, { status: 502, code: 'upstream_error', type: 'api_error' });
    expect((res.json as { error: { message: string } }).error.message).toMatch(/every fallback/);
  });

  it('the same JSON error for a stream that never started, and the SDK raises it', async () => {
    expectOpenAIError(await chat(ask('down', { stream: true })), { status: 502, code: 'upstream_error' });
    await expect(gw.client(KEY).chat.completions.create({ ...ask('down'), stream: true } as OpenAI.ChatCompletionCreateParamsStreaming)).rejects.toMatchObject({
      constructor: OpenAI.InternalServerError,
      status: 502,
      code: 'upstream_error',
    });
  });

  it('503 when the upstreams answer 503 and 429', async () => {
    expectOpenAIError(await chat(ask('busy')), { status: 503, code: 'upstream_unavailable' });
    await expect(gw.client(KEY).chat.completions.create(ask('busy') as OpenAI.ChatCompletionCreateParamsNonStreaming)).rejects.toMatchObject({
      constructor: OpenAI.InternalServerError,
      status: 503,
    });
  });

  it('504 when the upstream does not answer within timeoutSeconds', async () => {
    const started = Date.now();
    expectOpenAIError(await chat(ask('stuck')), { status: 504, code: 'upstream_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});

describe('no secrets in errors', () => {
  it('no error body above carried a stack trace, a key or the prompt', () => {
    const errors = said.filter((t) => t.includes('"error"'));
    expect(errors.length).toBeGreaterThan(15);
    for (const text of errors) {
      expect(text).not.toMatch(/\n\s+at /);
      expect(text).not.toContain(PROMPT);
      for (const k of KEYS) expect(text).not.toContain(k);
    }
  });
});
