/**
 * Issue #11 item 4: the request path defends itself. A caller without a valid key is turned away
 * before its body is read; a dripped request is cut; a key has a bounded number of requests in
 * flight; a stream whose reader stopped reading is cut, its upstream aborted and its output billed.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch } from 'undici';
import { type TestGateway, eventually, keyYaml, modelYaml, policyYaml, startTestGateway } from '../support/gateway.js';

const KEY = 'th-test-defence';
const LIMITED = 'th-test-defence-limited';
const IDLE_MS = 500;
const YAML =
  modelYaml({ name: 'alpha' }) +
  modelYaml({ name: 'long', contextWindow: 400_000, maxInput: 100_000, maxOutput: 300_000 }) +
  policyYaml('two-at-once', '{concurrency: {maxInFlight: 2}}') +
  policyYaml('three-at-once', '{concurrency: {maxInFlight: 3}, rateLimits: {rpm: 1000}}') +
  keyYaml({ name: 'k', clear: KEY }) +
  keyYaml({ name: 'lim', clear: LIMITED, policies: ['three-at-once', 'two-at-once'] });

let gw: TestGateway;
/** The same config with tight header and request timeouts (a 20 MB upload on a busy machine would trip them). */
let tight: TestGateway;
const dispatcher = new Agent();
beforeAll(async () => {
  gw = await startTestGateway({
    yaml: YAML,
    gateway: { timeouts: { headersMs: 10_000, requestMs: 30_000, streamIdleMs: IDLE_MS, checkIntervalMs: 1000 } },
  });
  tight = await startTestGateway({
    yaml: YAML,
    gateway: { timeouts: { headersMs: 600, requestMs: 1000, streamIdleMs: 30_000, checkIntervalMs: 100 } },
  });
});
afterAll(async () => {
  await dispatcher.destroy();
  await gw?.close();
  await tight?.close();
});

const hostPort = (g: TestGateway = gw) => {
  const u = new URL(g.url);
  return { host: u.hostname, port: Number(u.port) };
};

async function post(opts: { key?: string; body: string | object; signal?: AbortSignal; to?: TestGateway }) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.key !== undefined) headers['authorization'] = `Bearer ${opts.key}`;
  return fetch(`${(opts.to ?? gw).baseURL}/chat/completions`, {
    method: 'POST',
    dispatcher,
    headers,
    ...(opts.signal ? { signal: opts.signal } : {}),
    body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
}

/** Resolves when the socket closes (or ends), with everything it received. */
function collect(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  return new Promise((resolve) => {
    socket.once('close', () => resolve(text));
    socket.once('error', () => undefined);
  });
}

describe('authentication before the body', () => {
  it('answers 401 to a wrong key with a 10 MB body without parsing it (old: 400 invalid_json)', async () => {
    // Not JSON at all: had the body been parsed, this would be a 400 invalid_json.
    const body = `{"model":"alpha","messages":[${'x'.repeat(10 * 1024 * 1024)}`;
    const before = gw.events.length;
    const res = await post({ key: 'th-wrong-key', body });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_api_key', type: 'invalid_request_error' } });
    // The refusal is still reported (access line, metrics) like any other chat request.
    expect(gw.events.slice(before).map((e) => e.error?.code)).toEqual(['invalid_api_key']);
  });

  it('answers 401 to a missing key even past the body limit (old: 413)', async () => {
    const res = await post({ body: 'y'.repeat(20 * 1024 * 1024) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'missing_api_key' } });
    // The connection stays usable for the next request.
    const ok = await post({ key: KEY, body: { model: 'alpha', messages: [{ role: 'user', content: 'hi' }] } });
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it('still parses the body of a valid key (400 for broken JSON)', async () => {
    const res = await post({ key: KEY, body: '{"model":' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_json' } });
  });
});

describe('header and body timeouts', () => {
  it('cuts a request whose body is dripped, within the request timeout (old: never)', async () => {
    const socket = connect(hostPort(tight));
    const closed = collect(socket);
    const started = performance.now();
    socket.write(
      `POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
    );
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      const text = await closed;
      const elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(2500);
      // Node answers 408 (the headers were read, the body never completed) and closes.
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  it('lets a stream run longer than the request timeout (it bounds receiving the request, not the answer)', async () => {
    tight.mock.setBehaviour('alpha', { chunkDelayMs: 100, completionTokens: 16 });
    try {
      const started = performance.now();
      const res = await post({ key: KEY, body: streamBody('alpha'), to: tight });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('[DONE]');
      expect(performance.now() - started).toBeGreaterThan(1500);
    } finally {
      tight.mock.setBehaviour('alpha', undefined);
    }
  });

  it('cuts a client that drips its headers, within the headers timeout', async () => {
    const socket = connect(hostPort(tight));
    const closed = collect(socket);
    const started = performance.now();
    socket.write('POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Slow: a\r\n'), 100);
    try {
      await closed;
      expect(performance.now() - started).toBeLessThan(2500);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });
});

const streamBody = (model: string, extra: object = {}) => ({ model, stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('requests in flight per key', () => {
  it("allows the strictest policy's maxInFlight concurrent streams, 429s the next, and frees slots on end and abort", async () => {
    gw.mock.setBehaviour('alpha', { chunkDelayMs: 100, completionTokens: 10 });
    try {
      const aborter = new AbortController();
      const first = await post({ key: LIMITED, body: streamBody('alpha'), signal: aborter.signal });
      const second = await post({ key: LIMITED, body: streamBody('alpha') });
      expect([first.status, second.status]).toEqual([200, 200]);
      const third = await post({ key: LIMITED, body: streamBody('alpha') });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('1');
      expect(await third.json()).toMatchObject({ error: { code: 'rate_limit_exceeded', type: 'requests', param: null } });
      // Another key is not affected.
      const other = await post({ key: KEY, body: streamBody('alpha') });
      expect(other.status).toBe(200);
      // A client that aborts gives its slot back.
      const reader = (first.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      aborter.abort();
      await eventually(async () => {
        const r = await post({ key: LIMITED, body: { model: 'alpha', messages: [{ role: 'user', content: 'hi' }] } });
        await r.text();
        return r.status === 200;
      });
      // A stream that ends gives its slot back: after both finish, two fit again.
      await second.text();
      await other.text();
      const again = await Promise.all([post({ key: LIMITED, body: streamBody('alpha') }), post({ key: LIMITED, body: streamBody('alpha') })]);
      expect(again.map((r) => r.status)).toEqual([200, 200]);
      await Promise.all(again.map((r) => r.text()));
    } finally {
      gw.mock.setBehaviour('alpha', undefined);
    }
  });

  it('gives the slot back when the request fails before it reaches an upstream', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await post({ key: LIMITED, body: '{"model":' });
      expect(r.status).toBe(400);
      await r.text();
    }
    const ok = await post({ key: LIMITED, body: streamBody('alpha') });
    expect(ok.status).toBe(200);
    await ok.text();
  });
});

describe('a client that stops reading a stream', () => {
  it('is cut after the idle timeout: upstream aborted, stream ended, produced tokens billed', async () => {
    gw.mock.setBehaviour('long', { completionTokens: 150_000 });
    const statsBefore = gw.mock.stats();
    const eventsBefore = gw.events.length;
    const socket = connect(hostPort());
    const body = JSON.stringify(streamBody('long', { max_tokens: 150_000, stream_options: { include_usage: true } }));
    socket.write(
      `POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // Read the first bytes, then stop reading for good.
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    try {
      await eventually(() => gw.events.length > eventsBefore && gw.mock.stats().aborted > statsBefore.aborted, 15_000);
      const stats = gw.mock.stats();
      expect(stats.aborted - statsBefore.aborted).toBe(1);
      const event = gw.events[eventsBefore];
      expect(event?.result).toMatchObject({ status: 200, clientGone: true });
      const billed = event?.result?.usage?.outputTokens ?? 0;
      expect(billed).toBeGreaterThan(1000);
      // Billed what the gateway relayed; the mock produced at least that (some sat in buffers) and never all.
      const produced = stats.produced.completionTokens - statsBefore.produced.completionTokens;
      expect(billed).toBeLessThanOrEqual(produced);
      expect(produced).toBeLessThan(150_000);
      const rows = await gw.store.usage({ periodId: 'total', keyId: 'default/k' });
      expect(rows.find((r) => r.model === 'long')?.outputTokens).toBe(billed);
      // The client's connection is closed by the gateway.
      socket.resume();
      await new Promise((resolve) => (socket.closed ? resolve(undefined) : socket.once('close', resolve)));
    } finally {
      socket.destroy();
      gw.mock.setBehaviour('long', undefined);
    }
  });
});
