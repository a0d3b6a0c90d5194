/**
 * Issue #17: cleartext HTTP/2 with prior knowledge (`connection.protocol: h2c`) to in-cluster
 * upstreams, through a real gateway to the project's mock upstream serving h2c: answers and
 * usage exact, many streams on one upstream connection, an upstream that speaks only HTTP/1.1
 * fails fast as a retryable upstream error, and a stream the client leaves is billed exactly.
 */
import { createServer as createH2cServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatRequest } from '../../src/gateway/request/chat-request.js';
import { estimateInputTokens } from '../../src/gateway/request/estimate.js';
import { UpstreamClient } from '../../src/gateway/upstream/client.js';
import type { CompiledBackend } from '../../src/compile/types.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type TestGateway, eventually, expectOpenAIError, keyYaml, modelYaml, postChat, startTestGateway } from '../support/gateway.js';

const KEY = 'th-h2c-key';
let h2c: MockUpstream;
let gw: TestGateway;

beforeAll(async () => {
  h2c = await startMockUpstream({ h2c: true });
  const onH2c = { name: 'main', baseURL: h2c.url, connection: '{protocol: h2c}' };
  gw = await startTestGateway({
    yaml: [
      modelYaml({ name: 'fast', backends: [onH2c] }),
      modelYaml({ name: 'fast-2', backends: [onH2c] }),
      // The HTTP/1.1-only mock of the test gateway, declared as h2c by mistake.
      modelYaml({ name: 'wrong', backends: [{ name: 'main', connection: '{protocol: h2c}' }] }),
      modelYaml({ name: 'wrong-fb', backends: [{ name: 'main', connection: '{protocol: h2c}' }], fallback: ['fast'] }),
      keyYaml({ name: 'k', clear: KEY }),
    ].join(''),
  });
});
afterAll(async () => {
  await gw?.close();
  await h2c?.close();
});

const say = (content: string) => [{ role: 'user' as const, content }];

/** The key's all-time usage row of model `fast`. */
async function fastRow(): Promise<{ requests: number; inputTokens: number; outputTokens: number }> {
  const rows = await gw.store.usage({ periodId: 'total', keyId: 'default/k' });
  return rows.find((r) => r.model === 'fast') ?? { requests: 0, inputTokens: 0, outputTokens: 0 };
}

describe('h2c upstream', () => {
  it('answers a non-stream call over HTTP/2 with the upstream usage, exactly', async () => {
    const before = h2c.stats();
    const res = await gw.client(KEY).chat.completions.create({ model: 'fast', messages: say('plain h2c') });
    const after = h2c.stats();
    expect(res.choices[0]?.message.content).toMatch(/^Echo: plain h2c /);
    // HTTP/2 pseudo-headers: the request came over HTTP/2, not HTTP/1.1.
    expect(after.lastRequest?.headers[':path']).toBe('/v1/chat/completions');
    expect(after.requests - before.requests).toBe(1);
    expect(res.usage?.prompt_tokens).toBe(after.usage.promptTokens - before.usage.promptTokens);
    expect(res.usage?.completion_tokens).toBe(after.usage.completionTokens - before.usage.completionTokens);
    await eventually(() => gw.events.at(-1)?.requestedModel === 'fast' && gw.events.at(-1)?.stream === false);
    expect(gw.events.at(-1)?.result?.usage).toMatchObject({ inputTokens: res.usage?.prompt_tokens, outputTokens: res.usage?.completion_tokens });
  });

  it('relays a stream over HTTP/2 with its usage chunk, billed exactly', async () => {
    const before = h2c.stats();
    const stream = await gw.client(KEY).chat.completions.create({
      model: 'fast',
      stream: true,
      stream_options: { include_usage: true },
      messages: say('streamed over h2c'),
    });
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    const after = h2c.stats();
    expect(text).toMatch(/^Echo: streamed over h2c /);
    expect(usage?.completion_tokens).toBe(after.usage.completionTokens - before.usage.completionTokens);
    expect(usage?.prompt_tokens).toBe(after.usage.promptTokens - before.usage.promptTokens);
    await eventually(() => gw.events.at(-1)?.result?.usage !== undefined);
    expect(gw.events.at(-1)?.result?.usage).toMatchObject({ inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens });
  });

  it('carries 60 concurrent streams of two models on one upstream connection', async () => {
    h2c.setBehaviour('fast-2', { chunkDelayMs: 20, completionTokens: 10 });
    try {
      // One connection from the tests above (idle, kept alive), or a first one now.
      await gw.client(KEY).chat.completions.create({ model: 'fast-2', messages: say('warm') });
      const before = h2c.stats();
      expect(before.connections).toBe(1);
      const started = performance.now();
      const bodies = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const res = await postChat(gw.baseURL, { key: KEY, body: { model: i % 2 ? 'fast' : 'fast-2', stream: true, messages: say(`s${i}`) } });
          expect(res.status).toBe(200);
          return res.text;
        }),
      );
      const wallMs = performance.now() - started;
      expect(bodies.filter((b) => b.trimEnd().endsWith('data: [DONE]')).length).toBe(60);
      const after = h2c.stats();
      expect(after.requests - before.requests).toBe(60);
      // Thirty paced streams of 10 × 20 ms one after the other would take 6 s; overlapping, well under.
      expect(wallMs).toBeLessThan(3000);
      expect(after.connections).toBe(1);
    } finally {
      h2c.setBehaviour('fast-2', undefined);
    }
  });

  it('a stream the h2c upstream cuts after 3 chunks ends in the cut event, billed 3 output tokens', async () => {
    h2c.setBehaviour('fast-2', { cutAfterChunks: 3, completionTokens: 50 });
    try {
      const stream = await gw.client(KEY).chat.completions.create({ model: 'fast-2', stream: true, messages: say('cut') });
      const seen: string[] = [];
      await expect(async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      }).rejects.toThrow(/interrupted/);
      expect(seen.join('')).toBe('Echo: cut alpha');
      await eventually(() => gw.events.at(-1)?.result?.cut === true);
      expect(gw.events.at(-1)?.result?.usage?.outputTokens).toBe(3);
    } finally {
      h2c.setBehaviour('fast-2', undefined);
    }
  });

  it('an upstream declared h2c that speaks only HTTP/1.1 is a fast, retryable upstream error, not a hang', async () => {
    const started = performance.now();
    const alone = await postChat(gw.baseURL, { key: KEY, body: { model: 'wrong', messages: say('which protocol?') } });
    expect(performance.now() - started).toBeLessThan(3000);
    expectOpenAIError(alone, { status: 502, code: 'upstream_error', type: 'api_error' });
    // The same failure moves on to the fallback model, which answers.
    const fb = await postChat(gw.baseURL, { key: KEY, body: { model: 'wrong-fb', messages: say('fall back') } });
    expect(fb.status).toBe(200);
    expect((fb.json as { model: string }).model).toBe('fast');
  });

  it('charges nothing for an attempt on an upstream declared h2c that speaks only HTTP/1.1: it never read the request (a platform misconfiguration)', async () => {
    const eventsBefore = gw.events.length;
    const stored = async () => (await gw.store.usage({ periodId: 'total', keyId: 'default/k' })).filter((r) => r.model === 'wrong' || r.model === 'wrong-fb');
    const rowsBefore = await stored();
    const alone = await postChat(gw.baseURL, { key: KEY, body: { model: 'wrong', messages: say('charge me?') } });
    expectOpenAIError(alone, { status: 502, code: 'upstream_error', type: 'api_error' });
    const streamed = await postChat(gw.baseURL, { key: KEY, body: { model: 'wrong', stream: true, messages: say('charge me?') } });
    expectOpenAIError(streamed, { status: 502, code: 'upstream_error', type: 'api_error' });
    const fb = await postChat(gw.baseURL, { key: KEY, body: { model: 'wrong-fb', stream: true, messages: say('fall back') } });
    expect(fb.status).toBe(200);
    await eventually(() => gw.events.length >= eventsBefore + 3);
    const [a, b, c] = gw.events.slice(eventsBefore);
    expect([a?.charged, b?.charged, c?.charged]).toEqual([undefined, undefined, undefined]);
    expect(c?.result).toMatchObject({ servedModel: 'fast' });
    // Nothing kept either: no request, no tokens in the store for the misdeclared upstream.
    expect(await stored()).toEqual(rowsBefore);
  });

  it('a stream the client leaves mid-way is aborted upstream (RST_STREAM) and billed exactly what it relayed', async () => {
    h2c.setBehaviour('fast', { chunkDelayMs: 30, completionTokens: 200 });
    try {
      const before = h2c.stats();
      const eventsBefore = gw.events.length;
      const rowBefore = await fastRow();
      const body = { model: 'fast', stream: true as const, messages: say('leave me') };
      const controller = new AbortController();
      const stream = await gw.client(KEY).chat.completions.create(body, { signal: controller.signal });
      let n = 0;
      for await (const _ of stream) if (++n === 5) controller.abort();
      await eventually(() => h2c.stats().aborted === before.aborted + 1 && gw.events.length > eventsBefore);
      const event = gw.events[eventsBefore];
      expect(event?.result).toMatchObject({ clientGone: true });
      const billed = event?.result?.usage?.outputTokens ?? -1;
      const produced = h2c.stats().produced.completionTokens - before.produced.completionTokens;
      // Relayed at least the 4 content chunks the client read; the upstream produced at least that, never all 200.
      expect(billed).toBeGreaterThanOrEqual(4);
      expect(billed).toBeLessThanOrEqual(produced);
      expect(produced).toBeLessThan(200);
      // No usage came: the input estimate and every relayed output chunk, in the event and in the store.
      const input = estimateInputTokens(parseChatRequest(body));
      expect(event?.result?.usage).toMatchObject({ inputTokens: input, outputTokens: billed, estimated: true });
      const rowAfter = await fastRow();
      expect({
        requests: rowAfter.requests - rowBefore.requests,
        input: rowAfter.inputTokens - rowBefore.inputTokens,
        output: rowAfter.outputTokens - rowBefore.outputTokens,
      }).toEqual({
        requests: 1,
        input,
        output: billed,
      });
      // The connection survives the reset stream: the next call shares it.
      await gw.client(KEY).chat.completions.create({ model: 'fast-2', messages: say('after') });
      expect(h2c.stats().connections).toBe(1);
    } finally {
      h2c.setBehaviour('fast', undefined);
    }
  });
});

const h2cBackend = (baseURL: string): CompiledBackend => ({
  name: 'main',
  baseURL,
  upstreamModel: 'mock-model',
  weight: 100,
  priority: 0,
  timeoutMs: 10_000,
  connection: { maxConnections: 4096, idleTimeoutMs: 60_000, queueTimeoutMs: 2000, protocol: 'h2c' },
});

describe('h2c connections', () => {
  it('an upstream that allows 10 streams per connection gets 10 on each: a cold burst retries what it refused, none queue inside a session', async () => {
    // Streams answered together: the most the upstream held at once (a wall-clock bound was flaky on a busy machine).
    let active = 0;
    let peak = 0;
    const server = createH2cServer({ settings: { maxConcurrentStreams: 10 } }, (req, res) => {
      req.resume();
      req.on('end', () => {
        peak = Math.max(peak, ++active);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        setTimeout(() => {
          active--;
          res.end('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n');
        }, 150);
      });
    });
    let sessions = 0;
    server.on('session', () => sessions++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new UpstreamClient({ env: {} });
    const backend = h2cBackend(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
    const burst = async (): Promise<number> => {
      peak = 0;
      const bodies = await Promise.all(
        Array.from({ length: 30 }, async () => {
          const res = await client.send({ backend, body: { model: 'mock-model', stream: true, messages: say('x') }, signal: new AbortController().signal });
          return res.body.text();
        }),
      );
      expect(bodies.filter((b) => b.endsWith('data: [DONE]\n\n')).length).toBe(30);
      return peak;
    };
    try {
      // Cold: the first connection learns the limit when 20 of its 30 streams are refused (not
      // processed, so sent again), on two more connections.
      await burst();
      expect(sessions).toBe(3);
      // Warm: the same three connections, ten streams each, all 30 at once (not ten, then ten, then ten).
      expect(await burst()).toBe(30);
      expect(sessions).toBe(3);
    } finally {
      await client.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('a cold burst of 250 overlapping streams opens 3 connections of up to 100 streams, not one per request', async () => {
    const mock = await startMockUpstream({ h2c: true, defaultBehaviour: { chunkDelayMs: 20, completionTokens: 5 } });
    const client = new UpstreamClient({ env: {} });
    const backend = h2cBackend(mock.url);
    try {
      const bodies = await Promise.all(
        Array.from({ length: 250 }, async () => {
          const res = await client.send({ backend, body: { model: 'mock-model', stream: true, messages: say('burst') }, signal: new AbortController().signal });
          expect(res.statusCode).toBe(200);
          return res.body.text();
        }),
      );
      expect(bodies.filter((b) => b.includes('data: [DONE]')).length).toBe(250);
      expect(mock.stats()).toMatchObject({ requests: 250, connections: 3 });
    } finally {
      await client.close();
      await mock.close();
    }
  });
});
