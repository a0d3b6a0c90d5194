/**
 * Fallback: when the primary is unavailable (refused connection, upstream 429, a request it
 * cannot hold, its limits), the body's fallback_models then the route's chain are tried in
 * order, each checked against the key in its own right; the answer says which model served.
 * Every test uses its own model names: a failed backend stays cooled down for a while.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { type TestGateway, closedPort, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';

const KEY = 'th-fallback-key';
const LIMITED = 'th-fallback-limited';
let gw: TestGateway;
let refused: string;

const user = (content = 'hello') => [{ role: 'user' as const, content }];
const count = (model: string): number => gw.mock.stats().byModel[model] ?? 0;

beforeAll(async () => {
  refused = `http://127.0.0.1:${await closedPort()}/v1`;
  gw = await startTestGateway({
    yaml: [
      modelYaml({ name: 'down', baseURL: refused }),
      modelYaml({ name: 'rescue' }),
      modelYaml({ name: 'throttled' }),
      modelYaml({ name: 'tiny', contextWindow: 512, maxInput: 64, maxOutput: 128 }),
      modelYaml({ name: 'roomy', contextWindow: 32768, maxOutput: 8192 }),
      modelYaml({ name: 'chained', fallback: ['chain-end'] }),
      modelYaml({ name: 'chain-end' }),
      modelYaml({ name: 'body-fb' }),
      modelYaml({ name: 'forbidden' }),
      modelYaml({ name: 'allowed-fb' }),
      modelYaml({ name: 'stream-down' }),
      modelYaml({ name: 'stream-fb' }),
      modelYaml({
        name: 'two-backends',
        backends: [
          { name: 'first', upstreamModel: 'tb-first', priority: 0 },
          { name: 'second', upstreamModel: 'tb-second', priority: 1 },
        ],
      }),
      modelYaml({ name: 'cooled' }),
      modelYaml({ name: 'cool-fb' }),
      modelYaml({ name: 'capped' }),
      modelYaml({ name: 'capped-fb' }),
      policyYaml('capped-once', '{modelRateLimits: [{model: capped, rpm: 1}]}'),
      keyYaml({ name: 'k', clear: KEY, allowed: ['*'] }),
      // `forbidden` exists but this key may not use it
      keyYaml({ name: 'k2', clear: LIMITED, allowed: ['down', 'allowed-fb', 'capped', 'capped-fb'], policies: ['capped-once'] }),
    ].join(''),
  });
});
afterAll(async () => gw?.close());

describe('fallback', () => {
  it('a primary that refuses connections falls back; body model and x-tokenhub-model name the fallback', async () => {
    const { data, response } = await gw
      .client(KEY)
      .chat.completions.create({ model: 'down', messages: user(), fallback_models: ['rescue'] } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.model).toBe('rescue');
    expect(response.headers.get('x-tokenhub-model')).toBe('rescue');
    expect(count('rescue')).toBe(1);
    expect(gw.events.at(-1)?.result).toMatchObject({ servedModel: 'rescue', fallbacks: 1 });
  });

  it('an upstream 429 on the primary falls back', async () => {
    gw.mock.setBehaviour('throttled', { status: 429, retryAfterSeconds: 5 });
    const before = count('throttled');
    const res = await postChat(gw.baseURL, { key: KEY, body: { model: 'throttled', messages: user(), fallback_models: ['rescue'] } });
    expect(res.status).toBe(200);
    expect((res.json as { model: string }).model).toBe('rescue');
    expect(res.headers.get('x-tokenhub-model')).toBe('rescue');
    expect(count('throttled')).toBe(before + 1);
  });

  it('a primary too small for max_tokens or for the input falls back without being called', async () => {
    const byTokens = await postChat(gw.baseURL, { key: KEY, body: { model: 'tiny', max_tokens: 4000, messages: user(), fallback_models: ['roomy'] } });
    expect(byTokens.headers.get('x-tokenhub-model')).toBe('roomy');
    const byInput = await postChat(gw.baseURL, { key: KEY, body: { model: 'tiny', messages: user('word '.repeat(400)), fallback_models: ['roomy'] } });
    expect(byInput.status).toBe(200);
    expect(byInput.headers.get('x-tokenhub-model')).toBe('roomy');
    expect(count('tiny')).toBe(0);
    expect(count('roomy')).toBe(2);
  });

  it("the route's default chain comes after the body's fallback_models", async () => {
    gw.mock.setBehaviour('chained', { status: 503 });
    const first = await postChat(gw.baseURL, { key: KEY, body: { model: 'chained', messages: user(), fallback_models: ['body-fb'] } });
    expect(first.headers.get('x-tokenhub-model')).toBe('body-fb');
    expect(count('chain-end')).toBe(0);
    gw.mock.setBehaviour('body-fb', { status: 500 });
    const second = await postChat(gw.baseURL, { key: KEY, body: { model: 'chained', messages: user(), fallback_models: ['body-fb'] } });
    expect(second.headers.get('x-tokenhub-model')).toBe('chain-end');
    expect(count('body-fb')).toBe(2);
    expect(count('chain-end')).toBe(1);
  });

  it('a fallback the key may not use is skipped', async () => {
    const res = await postChat(gw.baseURL, { key: LIMITED, body: { model: 'down', messages: user(), fallback_models: ['forbidden', 'allowed-fb'] } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokenhub-model')).toBe('allowed-fb');
    expect(count('forbidden')).toBe(0);
  });

  it('a stream falls back when the primary fails before the first byte', async () => {
    gw.mock.setBehaviour('stream-down', { status: 503 });
    const { data: stream, response } = await gw
      .client(KEY)
      .chat.completions.create({
        model: 'stream-down',
        stream: true,
        messages: user('stream please'),
        fallback_models: ['stream-fb'],
      } as OpenAI.ChatCompletionCreateParamsStreaming)
      .withResponse();
    expect(response.headers.get('x-tokenhub-model')).toBe('stream-fb');
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.model === 'stream-fb')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toMatch(/^Echo: stream please/);
    expect(count('stream-down')).toBe(1);
  });

  it('each fallback is checked against the key×model limits in its own right', async () => {
    const body = { model: 'capped', messages: user(), fallback_models: ['capped-fb'] };
    const first = await postChat(gw.baseURL, { key: LIMITED, body });
    expect(first.headers.get('x-tokenhub-model')).toBe('capped');
    const second = await postChat(gw.baseURL, { key: LIMITED, body });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tokenhub-model')).toBe('capped-fb');
    expect(count('capped')).toBe(1);
    const alone = await postChat(gw.baseURL, { key: LIMITED, body: { model: 'capped', messages: user() } });
    expect(alone.status).toBe(429);
  });
});

describe('cooldown of a failed backend', () => {
  it('the next request skips a backend that just failed, in favour of the next one', async () => {
    gw.mock.setBehaviour('tb-first', { status: 502 });
    const first = await postChat(gw.baseURL, { key: KEY, body: { model: 'two-backends', messages: user() } });
    expect(first.status).toBe(200);
    expect([count('tb-first'), count('tb-second')]).toEqual([1, 1]);
    const second = await postChat(gw.baseURL, { key: KEY, body: { model: 'two-backends', messages: user() } });
    expect(second.status).toBe(200);
    expect([count('tb-first'), count('tb-second')]).toEqual([1, 2]);
  });

  it('a model whose only backend is cooling down is skipped in favour of its fallback (it was called again on every request)', async () => {
    gw.mock.setBehaviour('cooled', { status: 503 });
    const body = { model: 'cooled', messages: user(), fallback_models: ['cool-fb'] };
    expect((await postChat(gw.baseURL, { key: KEY, body })).headers.get('x-tokenhub-model')).toBe('cool-fb');
    expect(count('cooled')).toBe(1);
    const again = await postChat(gw.baseURL, { key: KEY, body });
    expect(again.headers.get('x-tokenhub-model')).toBe('cool-fb');
    expect(count('cooled')).toBe(1);
    expect(gw.events.at(-1)?.result?.attempts).toBe(1);
  });

  it('a cooling backend is still tried when nothing else is left', async () => {
    // `cooled` failed above and is cooling; without a fallback it is the last resort.
    gw.mock.setBehaviour('cooled', undefined);
    const res = await postChat(gw.baseURL, { key: KEY, body: { model: 'cooled', messages: user() } });
    expect(res.status).toBe(200);
    expect(count('cooled')).toBe(2);
  });
});
