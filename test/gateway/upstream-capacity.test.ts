/**
 * Issue #17: the wait for an upstream connection is visible and bounded. A backend allowed one
 * connection carries one long stream; a second request waits at most the backend's queue
 * timeout, then gets a fast OpenAI-shaped 503 (or its fallback), and the wait is in its event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch } from 'undici';
import { accessLogLine } from '../../src/telemetry/access-log.js';
import { type TestGateway, eventually, keyYaml, modelYaml, startTestGateway } from '../support/gateway.js';

const KEY = 'th-test-upstream-capacity';
const QUEUE_MS = 400;
const YAML =
  modelYaml({ name: 'narrow', backends: [{ name: 'one', connection: `{maxConnections: 1, queueTimeoutMs: ${QUEUE_MS}}` }] }) +
  modelYaml({
    name: 'narrow-fb',
    fallback: ['wide'],
    backends: [{ name: 'one', upstreamModel: 'narrow-fb', connection: `{maxConnections: 1, queueTimeoutMs: ${QUEUE_MS}}` }],
  }) +
  modelYaml({ name: 'wide' }) +
  keyYaml({ name: 'k', clear: KEY });

let gw: TestGateway;
const dispatcher = new Agent();
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
});
afterAll(async () => {
  await dispatcher.destroy();
  await gw?.close();
});

const body = (model: string) => ({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
const post = (model: string, signal?: AbortSignal) =>
  fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    dispatcher,
    ...(signal ? { signal } : {}),
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body(model)),
  });

/** Starts a slow stream on `model` and waits until its first chunk arrived (it holds the connection). */
async function holdConnection(model: string): Promise<{ done: Promise<string> }> {
  const res = await post(model);
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  expect(first.done).toBe(false);
  const done = (async () => {
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const r = await reader.read();
      if (r.done) return text;
      text += new TextDecoder().decode(r.value);
    }
  })();
  return { done };
}

describe('a backend with one connection', () => {
  it('answers a second stream with a 503 after the queue timeout, and reports the wait', async () => {
    gw.mock.setBehaviour('narrow', { chunkDelayMs: 150, completionTokens: 12 });
    try {
      const first = await holdConnection('narrow');
      const started = performance.now();
      const second = await post('narrow');
      const waited = performance.now() - started;
      const json = (await second.json()) as { error: Record<string, unknown> };
      expect(second.status).toBe(503);
      expect(json.error).toMatchObject({ type: 'api_error', code: 'upstream_unavailable' });
      expect(json.error['message']).toContain(`no upstream connection came free within ${QUEUE_MS} ms`);
      // Fast: the queue timeout and not the first stream's length (12 × 150 ms).
      expect(waited).toBeGreaterThanOrEqual(QUEUE_MS - 20);
      expect(waited).toBeLessThan(1500);
      const event = gw.events.find((e) => e.error?.status === 503);
      expect(event?.upstreamWaitMs).toBeGreaterThanOrEqual(QUEUE_MS - 20);
      expect(accessLogLine(event!).upstreamWaitMs).toBeGreaterThanOrEqual(QUEUE_MS - 20);
      expect(await first.done).toContain('[DONE]');
      // The connection came back: the next stream is served at once.
      const third = await post('narrow');
      expect(third.status).toBe(200);
      await third.text();
      expect(gw.events.at(-1)?.upstreamWaitMs).toBeLessThan(50);
    } finally {
      gw.mock.setBehaviour('narrow', undefined);
    }
  });

  it('falls back to the next model when no connection comes free in time', async () => {
    gw.mock.setBehaviour('narrow-fb', { chunkDelayMs: 150, completionTokens: 12 });
    try {
      const first = await holdConnection('narrow-fb');
      const second = await post('narrow-fb');
      expect(second.status).toBe(200);
      expect(second.headers.get('x-tokenhub-model')).toBe('wide');
      expect(await second.text()).toContain('[DONE]');
      await first.done;
    } finally {
      gw.mock.setBehaviour('narrow-fb', undefined);
    }
  });

  it('gives the connection back when a waiting client leaves, and when a holding client aborts', async () => {
    gw.mock.setBehaviour('narrow', { chunkDelayMs: 150, completionTokens: 16 });
    try {
      const abort = new AbortController();
      const res = await post('narrow', abort.signal);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      abort.abort();
      await eventually(() => gw.mock.stats().aborted >= 1);
      const next = await post('narrow');
      expect(next.status).toBe(200);
      await next.text();
      expect(gw.events.at(-1)?.upstreamWaitMs).toBeLessThan(50);
    } finally {
      gw.mock.setBehaviour('narrow', undefined);
    }
  });
});
