/** Chat, models and streaming through the official openai SDK against the gateway and the mock. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { type TestGateway, eventually, keyYaml, modelYaml, postChat, startTestGateway } from '../support/gateway.js';

const KEY = 'th-test-chat';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    yaml:
      modelYaml({ name: 'alpha', capabilities: ['text', 'tools'], price: ['1.00', '2.00'] }) +
      modelYaml({ name: 'beta' }) +
      modelYaml({ name: 'hidden' }) +
      keyYaml({ name: 'k', clear: KEY, allowed: ['alpha', 'beta'] }),
  });
});
afterAll(async () => gw?.close());

describe('chat completions', () => {
  it('answers through the SDK with the upstream usage and the public model name', async () => {
    const { data, response } = await gw
      .client(KEY)
      .chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'Hello there friend' }] })
      .withResponse();
    expect(data.model).toBe('alpha');
    expect(data.choices[0]?.message.content).toMatch(/^Echo: Hello there friend/);
    // mock counting: 4 per message + 3 words + 2
    expect(data.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 });
    expect(response.headers.get('x-tokenhub-model')).toBe('alpha');
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  it('sends the model default max_tokens upstream when the client sets none', async () => {
    await gw.client(KEY).chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: 'x' }] });
    const body = gw.mock.stats().lastRequest?.body as Record<string, unknown>;
    expect(body['max_tokens']).toBe(1024);
    expect(body['model']).toBe('beta');
    expect(body).not.toHaveProperty('fallback_models');
  });

  it('records usage and cost of the model that answered', async () => {
    const before = gw.events.length;
    await gw.client(KEY).chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'one two' }], max_tokens: 5 });
    const e = gw.events[before];
    // 8 input tokens at 1.00/M = 8000 nano; 5 output at 2.00/M = 10000 nano
    expect(e?.result?.usage).toEqual({ inputTokens: 8, outputTokens: 5, costNanos: 18_000 });
    const rows = await gw.store.usage({ periodId: 'total', keyId: 'default/k' });
    expect(rows.find((r) => r.model === 'alpha')?.costNanos).toBeGreaterThanOrEqual(18_000);
  });
});

describe("the body sent upstream is an edit of the client's text", () => {
  it.each([
    [
      'a repeated `model` (the last one counts, as for every JSON parser the gateway knows)',
      '{"model":"hidden","messages":[{"role":"user","content":"hi"}],"model":"beta"}',
    ],
    ['`model` spelled with an escape', '{"mod\\u0065l":"beta","messages":[{"role":"user","content":"\\"model\\":\\"hidden\\""}]}'],
  ])('routes and sends the same model for %s', async (_what, body) => {
    const before = gw.mock.stats();
    const res = await postChat(gw.baseURL, { key: KEY, body });
    expect(res.status).toBe(200);
    expect((res.json as { model?: string }).model).toBe('beta');
    const after = gw.mock.stats();
    expect(after.byModel['beta']).toBe((before.byModel['beta'] ?? 0) + 1);
    expect(after.byModel['hidden'] ?? 0).toBe(before.byModel['hidden'] ?? 0);
    expect(after.lastRequest?.body).toMatchObject({ model: 'beta', max_tokens: 1024 });
    // The answer is written in one piece with its length, never chunked.
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(res.text)));
    expect(res.headers.get('transfer-encoding')).toBeNull();
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });
});

describe('models', () => {
  it('lists only the models the key may use, in the OpenAI list shape', async () => {
    const page = await gw.client(KEY).models.list();
    expect(page.data.map((m) => m.id)).toEqual(['alpha', 'beta']);
    expect(page.data[0]).toMatchObject({ object: 'model', id: 'alpha' });
  });

  it('retrieves one model, and 404s one the key may not see', async () => {
    expect((await gw.client(KEY).models.retrieve('beta')).id).toBe('beta');
    await expect(gw.client(KEY).models.retrieve('hidden')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('streaming', () => {
  it('streams chunk by chunk and hides the usage chunk the client did not ask for', async () => {
    const stream = await gw
      .client(KEY)
      .chat.completions.create({ model: 'alpha', stream: true, max_tokens: 4, messages: [{ role: 'user', content: 'stream me' }] });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Echo: stream me alpha');
    expect(chunks.every((c) => c.usage === null || c.usage === undefined)).toBe(true);
    expect(chunks.every((c) => c.model === 'alpha')).toBe(true);
    // but the gateway asked the upstream for usage, and billed it
    const body = gw.mock.stats().lastRequest?.body as Record<string, unknown>;
    expect(body['stream_options']).toEqual({ include_usage: true });
    expect(gw.events.at(-1)?.result?.usage).toMatchObject({ inputTokens: 8, outputTokens: 4 });
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const stream = await gw.client(KEY).chat.completions.create({
      model: 'alpha',
      stream: true,
      max_tokens: 3,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count' }],
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) if (c.usage) usage = c.usage;
    expect(usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 3 });
  });

  it('ends a stream the upstream cuts with an error event, and bills what was produced', async () => {
    gw.mock.setBehaviour('beta', { cutAfterChunks: 3 });
    try {
      const stream = await gw.client(KEY).chat.completions.create({ model: 'beta', stream: true, messages: [{ role: 'user', content: 'cut' }] });
      const seen: string[] = [];
      await expect(async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      }).rejects.toThrow(/interrupted/);
      expect(seen.join('')).toBe('Echo: cut alpha');
      const e = gw.events.at(-1);
      expect(e?.result?.cut).toBe(true);
      expect(e?.result?.usage?.outputTokens).toBe(3);
    } finally {
      gw.mock.setBehaviour('beta', undefined);
    }
  });

  it('aborts the upstream call when the client goes away', async () => {
    gw.mock.setBehaviour('beta', { chunkDelayMs: 50, completionTokens: 200 });
    try {
      const abortedBefore = gw.mock.stats().aborted;
      const controller = new AbortController();
      const stream = await gw
        .client(KEY)
        .chat.completions.create({ model: 'beta', stream: true, messages: [{ role: 'user', content: 'long' }] }, { signal: controller.signal });
      let n = 0;
      for await (const _ of stream) if (++n === 3) controller.abort();
      await eventually(() => gw.mock.stats().aborted === abortedBefore + 1);
      await eventually(() => gw.events.at(-1)?.result?.clientGone === true);
      expect(gw.events.at(-1)?.result?.usage?.outputTokens).toBeLessThan(20);
    } finally {
      gw.mock.setBehaviour('beta', undefined);
    }
  });
});
