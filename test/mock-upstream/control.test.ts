// The mock's HTTP control surface (for tests that run gateways as child processes), its raw
// OpenAI error shapes, and the `tokenhub mock-upstream` command.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockUpstreamCommand } from '../../src/mock-upstream/command.js';
import { startMockUpstream, type MockStats, type MockUpstream } from '../../src/mock-upstream/server.js';

let mock: MockUpstream;
let origin: string;

beforeAll(async () => {
  mock = await startMockUpstream({ defaultBehaviour: { completionTokens: 2 } });
  origin = `http://127.0.0.1:${mock.port}`;
});
afterAll(() => mock.close());
beforeEach(() => mock.reset());

const chat = (model: string, extra: Record<string, unknown> = {}): Promise<Response> =>
  fetch(`${mock.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });

const put = (model: string, body: unknown): Promise<Response> =>
  fetch(`${origin}/__mock/behaviour/${encodeURIComponent(model)}`, { method: 'PUT', body: JSON.stringify(body) });

async function expectOpenAIError(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: Record<string, unknown> };
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return body.error;
}

describe('mock upstream HTTP controls', () => {
  it('sets behaviour per model (names with slashes too) and by default', async () => {
    expect((await put('org/model', { status: 503 })).status).toBe(200);
    await expectOpenAIError(await chat('org/model'), 503);
    expect((await chat('other')).status).toBe(200);
    expect((await put('*', { status: 500 })).status).toBe(200);
    await expectOpenAIError(await chat('other'), 500);
    // A model's own behaviour replaces the default as a whole.
    expect((await put('ok', { completionTokens: 3 })).status).toBe(200);
    const ok = (await (await chat('ok')).json()) as { usage: { completion_tokens: number } };
    expect(ok.usage.completion_tokens).toBe(3);
  });

  it('clears one model with DELETE or null, and resets everything with DELETE /__mock/behaviour', async () => {
    await put('a', { status: 500 });
    await fetch(`${origin}/__mock/behaviour/a`, { method: 'DELETE' });
    expect((await chat('a')).status).toBe(200);
    await put('a', { status: 500 });
    await put('a', null);
    expect((await chat('a')).status).toBe(200);
    await put('*', { status: 500 });
    expect((await fetch(`${origin}/__mock/behaviour`, { method: 'DELETE' })).status).toBe(200);
    const res = await chat('a');
    // Back to the start-up default behaviour (2 tokens), stats emptied.
    expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(2);
    expect(mock.stats().requests).toBe(1);
  });

  it('rejects a bad behaviour with 400', async () => {
    await expectOpenAIError(await put('a', { latencyMs: -1 }), 400);
    await expectOpenAIError(await put('a', { status: 200 }), 400);
    await expectOpenAIError(await put('a', { sloth: true }), 400);
    await expectOpenAIError(await put('a', [1]), 400);
    await expectOpenAIError(await put('a', { deltaField: 'thoughts' }), 400);
    await expectOpenAIError(await put('a', { reportedPromptTokens: 1.5 }), 400);
  });

  it('answers in another delta field, without usage, or with skewed usage (billing tests)', async () => {
    await put('r', { deltaField: 'reasoning_content', omitUsage: true });
    const answer = (await (await chat('r')).json()) as { choices: { message: Record<string, unknown> }[]; usage?: unknown };
    expect(answer.usage).toBeUndefined();
    expect(answer.choices[0]?.message).toEqual({ role: 'assistant', content: null, reasoning_content: expect.stringMatching(/^Echo: hi/) });
    const stream = await (await chat('r', { stream: true, stream_options: { include_usage: true } })).text();
    expect(stream).toContain('"delta":{"reasoning_content":"Echo:"}');
    expect(stream).not.toContain('"usage":{');
    await put('neg', { reportedPromptTokens: -5, reportedCompletionTokens: 9 });
    const skewed = (await (await chat('neg')).json()) as { usage: Record<string, number> };
    expect(skewed.usage).toEqual({ prompt_tokens: -5, completion_tokens: 9, total_tokens: 4 });
  });

  it('serves the same stats as stats()', async () => {
    await chat('s1', { stream: true, stream_options: { include_usage: true } }).then((r) => r.text());
    const stats = (await (await fetch(`${origin}/__mock/stats`)).json()) as MockStats;
    expect(stats).toEqual(mock.stats());
    expect(stats).toMatchObject({
      requests: 1,
      byModel: { s1: 1 },
      usage: { promptTokens: 7, completionTokens: 2 },
      produced: { promptTokens: 7, completionTokens: 2 },
      aborted: 0,
    });
  });
});

describe('mock upstream request errors', () => {
  it('answers bad requests with OpenAI-shaped 400s', async () => {
    const bad = await fetch(`${mock.url}/chat/completions`, { method: 'POST', body: '{nope' });
    expect((await expectOpenAIError(bad, 400))['type']).toBe('invalid_request_error');
    expect((await expectOpenAIError(await chat(''), 400))['param']).toBe('model');
    expect((await expectOpenAIError(await chat('m', { messages: [] }), 400))['param']).toBe('messages');
    expect((await expectOpenAIError(await chat('m', { max_tokens: 0 }), 400))['param']).toBe('max_tokens');
    expect((await expectOpenAIError(await chat('m', { stream_options: { include_usage: true } }), 400))['param']).toBe('stream_options');
    expect(mock.stats().requests).toBe(5);
  });

  it('answers unknown routes with an OpenAI-shaped 404', async () => {
    await expectOpenAIError(await fetch(`${mock.url}/embeddings`, { method: 'POST', body: '{}' }), 404);
    await expectOpenAIError(await fetch(`${mock.url}/models/nope`), 404);
  });

  it('counts an abort during the latency and never answers it', async () => {
    mock.setBehaviour('*', { latencyMs: 5_000 });
    const controller = new AbortController();
    const res = fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
      signal: controller.signal,
    }).catch(() => 'aborted');
    setTimeout(() => controller.abort(), 30);
    expect(await res).toBe('aborted');
    await vi.waitFor(() => expect(mock.stats().aborted).toBe(1));
    expect(mock.stats().produced.promptTokens).toBe(0);
  });
});

describe('tokenhub mock-upstream', () => {
  let stdout: string[];
  beforeEach(() => {
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('serves until SIGTERM with the given options', async () => {
    const listeners = process.listenerCount('SIGTERM');
    const exit = mockUpstreamCommand(['--port', '0', '--api-key', 'k', '--completion-tokens', '5']);
    await vi.waitFor(() => expect(stdout.join('')).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\/v1/));
    const url = /listening on (\S+)/.exec(stdout.join(''))?.[1] ?? '';
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(5);
    // Only the command's own listener runs: emit() does not deliver a real signal.
    process.emit('SIGTERM', 'SIGTERM');
    expect(await exit).toBe(0);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('rejects bad arguments with exit code 2', async () => {
    expect(await mockUpstreamCommand(['--port', 'x'])).toBe(2);
    expect(await mockUpstreamCommand(['--bogus'])).toBe(2);
    expect(await mockUpstreamCommand(['--help'])).toBe(0);
  });
});
