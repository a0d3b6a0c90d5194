// The mock upstream through the official OpenAI SDK, over real HTTP.
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockStats, type MockUpstream } from '../../src/mock-upstream/server.js';

let mock: MockUpstream;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockUpstream();
  client = new OpenAI({ baseURL: mock.url, apiKey: 'x', maxRetries: 0 });
});
afterAll(() => mock.close());
beforeEach(() => mock.reset());

const system = { role: 'system' as const, content: 'You are helpful.' };
const user = { role: 'user' as const, content: 'Tell me a short story' };
// (4 + 3) + (4 + 5) + 2
const PROMPT_TOKENS = 18;

async function until(check: (s: MockStats) => boolean): Promise<MockStats> {
  for (let i = 0; i < 200; i++) {
    const s = mock.stats();
    if (check(s)) return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`condition not met: ${JSON.stringify(mock.stats())}`);
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<{ chunks: ChatCompletionChunk[]; error?: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks };
}

describe('mock upstream via the openai SDK', () => {
  it('answers a non-stream completion with exact usage', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-x', messages: [system, user] });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gpt-x');
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.choices[0]?.message.role).toBe('assistant');
    expect(res.choices[0]?.message.content).toBe('Echo: Tell me a short story alpha bravo charlie delta echo foxtrot golf hotel india juliet');
    expect(res.usage).toEqual({ prompt_tokens: PROMPT_TOKENS, completion_tokens: 16, total_tokens: PROMPT_TOKENS + 16 });
    const s = mock.stats();
    expect(s).toMatchObject({ requests: 1, byModel: { 'gpt-x': 1 }, aborted: 0 });
    expect(s.usage).toEqual({ promptTokens: PROMPT_TOKENS, completionTokens: 16 });
    expect(s.produced).toEqual(s.usage);
    expect(s.lastRequest?.body).toMatchObject({ model: 'gpt-x' });
    expect(s.lastRequest?.headers['authorization']).toBe('Bearer x');
  });

  it('streams one token per chunk and the usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-x',
      messages: [system, user],
      stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const content = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(content).toHaveLength(16);
    expect(content.map((c) => c.choices[0]?.delta.content).join('')).toMatch(/^Echo: Tell me a short story alpha/);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: PROMPT_TOKENS, completion_tokens: 16, total_tokens: PROMPT_TOKENS + 16 });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.slice(0, -1).every((c) => c.usage === null && c.object === 'chat.completion.chunk')).toBe(true);
    expect(mock.stats().usage).toEqual({ promptTokens: PROMPT_TOKENS, completionTokens: 16 });
  });

  it('streams without usage when not asked: produced counts, reported usage does not', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages: [user], stream: true });
    const { chunks } = await collect(stream);
    expect(chunks.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    const s = await until((st) => st.produced.completionTokens === 16);
    expect(s.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
    expect(s.produced.promptTokens).toBe(4 + 5 + 2);
  });

  it('caps at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const res = await client.chat.completions.create({ model: 'm', messages: [user], max_tokens: 5 });
    expect(res.choices[0]?.finish_reason).toBe('length');
    expect(res.usage?.completion_tokens).toBe(5);
    expect(res.choices[0]?.message.content).toBe('Echo: Tell me a short');
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [user],
      max_completion_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks } = await collect(stream);
    expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(3);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
  });

  it('refuses max_tokens and max_completion_tokens together, as Ark does (even when equal)', async () => {
    const both = client.chat.completions.create({ model: 'm', messages: [user], max_tokens: 5, max_completion_tokens: 5 });
    await expect(both).rejects.toMatchObject({ status: 400, param: 'max_completion_tokens' });
  });

  it('generates the configured number of tokens', async () => {
    mock.setBehaviour('short', { completionTokens: 4 });
    const res = await client.chat.completions.create({ model: 'short', messages: [user], max_tokens: 10 });
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage?.completion_tokens).toBe(4);
  });

  it('fails with the configured status, OpenAI-shaped, with Retry-After on 429', async () => {
    mock.setBehaviour('broken', { status: 500 });
    mock.setBehaviour('limited', { status: 429, retryAfterSeconds: 7 });
    const broken = await client.chat.completions.create({ model: 'broken', messages: [user] }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(OpenAI.InternalServerError);
    expect((broken as APIError).type).toBe('server_error');
    const limited = await client.chat.completions.create({ model: 'limited', messages: [user] }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as APIError).status).toBe(429);
    expect((limited as APIError).code).toBe('rate_limit_exceeded');
    expect((limited as APIError).headers?.get('retry-after')).toBe('7');
    const other = await client.chat.completions.create({ model: 'fine', messages: [user] });
    expect(other.choices[0]?.finish_reason).toBe('stop');
    expect(mock.stats().requests).toBe(3);
  });

  it('cuts a stream after N content chunks: no finish, no usage, produced counts what was sent', async () => {
    mock.setBehaviour('*', { cutAfterChunks: 3 });
    const stream = await client.chat.completions.create({
      model: 'gpt-x',
      messages: [user],
      stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks, error } = await collect(stream);
    expect(error).toBeDefined();
    expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(3);
    expect(chunks.some((c) => c.choices[0]?.finish_reason || c.usage)).toBe(false);
    const s = mock.stats();
    expect(s.produced).toEqual({ promptTokens: 4 + 5 + 2, completionTokens: 3 });
    expect(s.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
    expect(s.aborted).toBe(0);
  });

  it('counts a client abort mid-stream and stops generating', async () => {
    mock.setBehaviour('slow', { chunkDelayMs: 10, completionTokens: 200 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'slow', messages: [user], stream: true }, { signal: controller.signal });
    let seen = 0;
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const _chunk of stream) {
      if (++seen === 3) controller.abort();
    }
    expect(seen).toBeLessThan(10);
    const s = await until((st) => st.aborted === 1);
    const produced = s.produced.completionTokens;
    expect(produced).toBeGreaterThanOrEqual(2);
    expect(produced).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, 50));
    expect(mock.stats().produced.completionTokens).toBe(produced);
  });

  it('hangs until the client times out, and counts that as an abort', async () => {
    mock.setBehaviour('stuck', { hang: true });
    const started = Date.now();
    const err = await client.chat.completions.create({ model: 'stuck', messages: [user] }, { timeout: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await until((s) => s.aborted === 1);
  });

  it('delays the response by latencyMs', async () => {
    mock.setBehaviour('*', { latencyMs: 120 });
    const started = performance.now();
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages: [user], stream: true });
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
    stream.controller.abort();
  });

  it('paces chunks by chunkDelayMs', async () => {
    mock.setBehaviour('*', { chunkDelayMs: 15, completionTokens: 5 });
    const started = performance.now();
    const { chunks } = await collect(await client.chat.completions.create({ model: 'gpt-x', messages: [user], stream: true }));
    expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(5 * 15 - 5);
  });

  it('answers with a tool call when tools are offered and the user asks about the weather', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    const messages = [{ role: 'user' as const, content: "What's the weather in Lyon?" }];
    const res = await client.chat.completions.create({ model: 'gpt-x', messages, tools });
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' ? call.function : undefined).toEqual({ name: 'get_weather', arguments: '{"location":"Lyon"}' });
    expect(res.usage?.completion_tokens).toBe(2);
    const runner = client.chat.completions.stream({ model: 'gpt-x', messages, tools });
    const final = await runner.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    expect(streamed?.type === 'function' ? streamed.function.arguments : undefined).toBe('{"location":"Lyon"}');
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    const plain = await client.chat.completions.create({ model: 'gpt-x', messages: [user], tools, response_format: { type: 'json_object' } });
    expect(plain.choices[0]?.message.content).toMatch(/^Echo:/);
  });

  it('lists mock-model and the models requested so far', async () => {
    await client.chat.completions.create({ model: 'seen-model', messages: [user] });
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.sort()).toEqual(['mock-model', 'seen-model']);
    expect((await client.models.retrieve('seen-model')).id).toBe('seen-model');
  });
});

describe('mock upstream with an API key', () => {
  it('rejects a wrong key with 401 and accepts the right one', async () => {
    const secured = await startMockUpstream({ apiKey: 'sk-right' });
    try {
      const wrong = new OpenAI({ baseURL: secured.url, apiKey: 'sk-wrong', maxRetries: 0 });
      const err = await wrong.chat.completions.create({ model: 'm', messages: [user] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as APIError).code).toBe('invalid_api_key');
      const right = new OpenAI({ baseURL: secured.url, apiKey: 'sk-right', maxRetries: 0 });
      expect((await right.chat.completions.create({ model: 'm', messages: [user] })).usage?.prompt_tokens).toBe(11);
      expect(secured.stats().requests).toBe(2);
    } finally {
      await secured.close();
    }
  });
});
