/**
 * What a streamed answer looks like on the wire through the relay (stream-relay.ts, sse-scan.ts):
 * its head (the SSE headers, the key's rate-limit headers, the ids, keep-alive) and its events
 * (the public model name in every one, the usage chunk only when the client asked), billed
 * exactly from the upstream's usage either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestGateway, eventually, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';

const KEY = 'th-stream-head-key';
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    yaml: [
      modelYaml({ name: 'pub', backends: [{ name: 'main', upstreamModel: 'up-model' }] }),
      policyYaml('p', '{rateLimits: {rpm: 1000, tpm: 1000000}}'),
      keyYaml({ name: 'k', clear: KEY, policies: ['p'] }),
    ].join(''),
  });
});
afterAll(async () => {
  await gw?.close();
});

const body = (includeUsage: boolean) => ({
  model: 'pub',
  stream: true,
  messages: [{ role: 'user', content: 'head and events' }],
  ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
});

/** The `data:` payloads of an SSE body, [DONE] included. */
const dataOf = (text: string): string[] =>
  text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));

type Chunk = { model: string; usage?: { completion_tokens: number } | null };

describe('a streamed answer on the wire', () => {
  it('has the SSE head, the rate-limit headers, the ids and keep-alive', async () => {
    const res = await postChat(gw.baseURL, { key: KEY, body: body(false), headers: { 'x-request-id': 'head-1' } });
    expect(res.status).toBe(200);
    const h = Object.fromEntries(res.headers);
    expect(h).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      'x-request-id': 'head-1',
      'x-tokenhub-model': 'pub',
      'x-ratelimit-limit-requests': '1000',
      'x-ratelimit-limit-tokens': '1000000',
    });
    expect(h['x-ratelimit-remaining-requests']).toMatch(/^\d+$/);
    expect(h['x-ratelimit-reset-tokens']).toEqual(expect.any(String));
  });

  it.each([true, false])('names the public model in every event, sends usage only when asked (%s), bills the upstream usage', async (asked) => {
    const before = gw.events.length;
    const stats = gw.mock.stats();
    const res = await postChat(gw.baseURL, { key: KEY, body: body(asked) });
    const data = dataOf(res.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(new Set(chunks.map((c) => c.model))).toEqual(new Set(['pub']));
    expect(res.text).not.toContain('up-model');
    const usageChunks = chunks.filter((c) => c.usage !== undefined && c.usage !== null);
    expect(usageChunks.length).toBe(asked ? 1 : 0);
    // The gateway asked the upstream for usage either way, and billed what it said.
    expect((gw.mock.stats().lastRequest?.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
    await eventually(() => gw.events.length > before);
    const after = gw.mock.stats();
    const billed = gw.events[before]?.result?.usage;
    expect(billed).toMatchObject({
      inputTokens: after.usage.promptTokens - stats.usage.promptTokens,
      outputTokens: after.usage.completionTokens - stats.usage.completionTokens,
    });
    expect(billed?.estimated).toBeUndefined();
    if (asked) expect(billed?.outputTokens).toBe(usageChunks[0]?.usage?.completion_tokens);
  });
});
