/**
 * Metrics, traces and logs of a gateway as a platform team sees them: a real OTLP/HTTP receiver
 * (http/json) in this process, the Prometheus scrape endpoint, and pino's output captured from a
 * custom stream. Requests go through the official openai SDK to the mock upstream: plain,
 * streamed with and without include_usage, limited (429), and one that falls back after two
 * failing backends. What is exported must be exactly what was served.
 */
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatNanos } from '../../src/billing/money.js';
import type { GatewayObserver } from '../../src/gateway/events.js';
import type { ChatEvent } from '../../src/gateway/routes/chat-completions.js';
import { loggerOptions } from '../../src/gateway/logging.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { GatewayTelemetry } from '../../src/telemetry/index.js';
import { type TestGateway, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';
import { dashboardRefs } from './dashboard-refs.js';
import { type ExportedMetric, type OtlpReceiver, metricsOf, pointsWhere, spansOf, startOtlpReceiver, total } from './otlp-receiver.js';

const KEY = 'th-telemetry-secret-key-0001';
const LIMITED_KEY = 'th-telemetry-secret-key-limited';
const WRONG_KEY = 'th-telemetry-wrong-key-9999';
const PROMPT = 'zebra-prompt-marker';

let receiver: OtlpReceiver;
let telemetry: GatewayTelemetry;
let gw: TestGateway;
const logLines: string[] = [];
let metrics: Map<string, ExportedMetric>;

const capture = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
    done();
  },
});

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  telemetry = await GatewayTelemetry.start({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRIC_EXPORT_INTERVAL: '3600000' },
    metricsPort: 0,
    metricsHost: '127.0.0.1',
  });
  let observer: GatewayObserver | undefined;
  gw = await startTestGateway({
    yaml:
      modelYaml({ name: 'alpha', price: ['1.00', '2.00'], tpm: 1_000_000 }) +
      modelYaml({ name: 'beta', price: ['0.50', '1.50'] }) +
      modelYaml({ name: 'primary', fallback: ['beta'], backends: [{ name: 'east' }, { name: 'west' }] }) +
      keyYaml({ name: 'k', clear: KEY }) +
      keyYaml({ name: 'lim', clear: LIMITED_KEY, policies: ['one-rpm'] }) +
      policyYaml('one-rpm', '{rateLimits: {rpm: 1}}'),
    store: telemetry.timeStore(new MemoryLimitStore()),
    gateway: {
      observer: { watchChat: (req) => (observer as GatewayObserver).watchChat(req) },
      logger: { ...(loggerOptions({ level: 'info' }) as Record<string, unknown>), stream: capture },
    },
  });
  observer = telemetry.observer(gw.holder);
  telemetry.watchConfig(gw.holder);
  await traffic();
  await telemetry.flush();
  const lastMetrics = receiver.received.filter((r) => r.path === '/v1/metrics').at(-1);
  metrics = metricsOf(lastMetrics?.json);
});

afterAll(async () => {
  await gw?.close();
  await telemetry?.shutdown();
  await receiver?.close();
});

/** A caller's own trace context, to see the gateway join it. */
const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

async function traffic(): Promise<void> {
  const client = gw.client(KEY);
  await client.chat.completions.create(
    { model: 'alpha', messages: [{ role: 'user', content: `plain ${PROMPT}` }] },
    { headers: { 'x-request-id': 'tel-plain', traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` } },
  );
  for await (const _ of await client.chat.completions.create(
    { model: 'alpha', stream: true, max_tokens: 6, messages: [{ role: 'user', content: `stream ${PROMPT}` }] },
    { headers: { 'x-request-id': 'tel-stream' } },
  ));
  for await (const _ of await client.chat.completions.create(
    { model: 'beta', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `usage ${PROMPT}` }] },
    { headers: { 'x-request-id': 'tel-stream-usage' } },
  ));
  const limited = gw.client(LIMITED_KEY);
  await limited.chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: PROMPT }] }, { headers: { 'x-request-id': 'tel-first' } });
  await expect(
    limited.chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: PROMPT }] }, { headers: { 'x-request-id': 'tel-limited' } }),
  ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  gw.mock.setBehaviour('primary', { status: 500 });
  await client.chat.completions.create(
    { model: 'primary', messages: [{ role: 'user', content: `fallback ${PROMPT}` }] },
    { headers: { 'x-request-id': 'tel-fallback' } },
  );
  gw.mock.setBehaviour('primary', undefined);
  await expect(gw.client(WRONG_KEY).chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: PROMPT }] })).rejects.toBeInstanceOf(
    OpenAI.AuthenticationError,
  );
  await postChat(gw.baseURL, { key: KEY, body: `{"model":"alpha","messages":[{"role":"user","content":"${PROMPT}"` });
}

const eventOf = (id: string) => {
  const e = gw.events.find((x) => x.requestId === id);
  if (e === undefined) throw new Error(`no event for ${id}`);
  return e;
};

const served = () => gw.events.filter((e) => e.result?.usage !== undefined);
const sumOf = (f: (e: (typeof gw.events)[number]) => number) => gw.events.reduce((acc, e) => acc + f(e), 0);

describe('OTLP metrics', () => {
  it('exports the GenAI token usage histogram with exactly what the mock upstream reported', () => {
    const usage = metrics.get('gen_ai.client.token.usage');
    expect(usage).toMatchObject({ unit: '{token}', kind: 'histogram' });
    const upstream = gw.mock.stats().usage;
    expect(total(pointsWhere(usage, { 'gen_ai.token.type': 'input' }), 'sum')).toBe(upstream.promptTokens);
    expect(total(pointsWhere(usage, { 'gen_ai.token.type': 'output' }), 'sum')).toBe(upstream.completionTokens);
    expect(total(pointsWhere(usage, { 'gen_ai.token.type': 'input' }), 'count')).toBe(served().length);
    // The plain request, attribute for attribute.
    const plain = eventOf('tel-plain').result?.usage;
    const alphaIn = pointsWhere(usage, { 'gen_ai.request.model': 'alpha', 'gen_ai.token.type': 'input' });
    expect(alphaIn.map((p) => p.attributes)).toEqual([
      {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'alpha',
        'gen_ai.response.model': 'alpha',
        'gen_ai.token.type': 'input',
      },
    ]);
    expect(total(alphaIn, 'sum')).toBe((plain?.inputTokens ?? 0) + (eventOf('tel-stream').result?.usage?.inputTokens ?? 0));
    // The fallback: asked for primary, answered by beta.
    const fb = pointsWhere(usage, { 'gen_ai.request.model': 'primary', 'gen_ai.token.type': 'output' });
    expect(fb.map((p) => [p.attributes['gen_ai.response.model'], p.sum])).toEqual([['beta', eventOf('tel-fallback').result?.usage?.outputTokens]]);
  });

  it('exports operation duration for every request on a known model, errors with error.type', () => {
    const duration = metrics.get('gen_ai.client.operation.duration');
    expect(duration).toMatchObject({ unit: 's', kind: 'histogram' });
    expect(total(duration?.points ?? [], 'count')).toBe(6);
    expect(pointsWhere(duration, { 'error.type': 'rate_limit_exceeded' }).map((p) => [p.attributes, p.count])).toEqual([
      [{ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'beta', 'error.type': 'rate_limit_exceeded' }, 1],
    ]);
    const ms = eventOf('tel-plain').durationMs + eventOf('tel-stream').durationMs;
    expect(total(pointsWhere(duration, { 'gen_ai.request.model': 'alpha' }), 'sum')).toBeCloseTo(ms / 1000, 9);
  });

  it('exports time to first chunk and time per output chunk for the two streams only', () => {
    const ttfc = metrics.get('gen_ai.client.operation.time_to_first_chunk');
    const perChunk = metrics.get('gen_ai.client.operation.time_per_output_chunk');
    expect(ttfc).toMatchObject({ unit: 's', kind: 'histogram' });
    expect(perChunk).toMatchObject({ unit: 's', kind: 'histogram' });
    const streams = ['tel-stream', 'tel-stream-usage'].map(eventOf);
    expect(total(ttfc?.points ?? [], 'count')).toBe(2);
    const expectTtfc = streams.reduce((acc, e) => acc + ((e.result?.firstChunkAt ?? NaN) - e.startedAt), 0) / 1000;
    expect(total(ttfc?.points ?? [], 'sum')).toBeCloseTo(expectTtfc, 9);
    for (const e of streams) expect((e.result?.firstChunkAt ?? 0) - e.startedAt).toBeLessThanOrEqual(e.durationMs);
    // One gap per output chunk after the first: the mock sends one content chunk per token.
    const chunks = streams.map((e) => e.result?.usage?.outputTokens ?? 0);
    expect(total(perChunk?.points ?? [], 'count')).toBe(chunks.reduce((a, n) => a + n - 1, 0));
    expect(pointsWhere(perChunk, { 'gen_ai.request.model': 'alpha' })[0]?.count).toBe((chunks[0] ?? 0) - 1);
  });

  it('counts requests by outcome, key and model; fallbacks; attempts per backend', () => {
    const requests = metrics.get('tokenhub.requests');
    expect(requests).toMatchObject({ unit: '{request}', kind: 'sum', monotonic: true });
    const byOutcome = (o: string) => total(pointsWhere(requests, { 'tokenhub.outcome': o }));
    expect([byOutcome('served'), byOutcome('limited'), byOutcome('rejected')]).toEqual([5, 1, 2]);
    expect(pointsWhere(requests, { 'tokenhub.outcome': 'limited' }).map((p) => p.attributes)).toEqual([
      { 'tokenhub.outcome': 'limited', 'tokenhub.key.id': 'default/lim', 'gen_ai.request.model': 'beta', 'error.type': 'rate_limit_exceeded' },
    ]);
    expect(
      pointsWhere(requests, { 'tokenhub.outcome': 'rejected' })
        .map((p) => p.attributes['error.type'])
        .sort(),
    ).toEqual(['invalid_api_key', 'invalid_json']);
    expect(metrics.get('tokenhub.fallbacks')?.points).toEqual([
      { attributes: { 'gen_ai.request.model': 'primary', 'gen_ai.response.model': 'beta' }, value: 1 },
    ]);
    const attempts = metrics.get('tokenhub.upstream.attempts');
    expect(total(pointsWhere(attempts, { 'tokenhub.model': 'primary', 'tokenhub.attempt.outcome': 'retryable' }))).toBe(2);
    expect(
      pointsWhere(attempts, { 'tokenhub.model': 'primary' })
        .map((p) => p.attributes['tokenhub.backend'])
        .sort(),
    ).toEqual(['east', 'west']);
    expect(total(pointsWhere(attempts, { 'tokenhub.attempt.outcome': 'served' }))).toBe(5);
  });

  it('exports tokens and cost by key id (never the secret), equal to what was billed', () => {
    const tokens = metrics.get('tokenhub.tokens');
    const cost = metrics.get('tokenhub.cost');
    expect(tokens).toMatchObject({ unit: '{token}', kind: 'sum', monotonic: true });
    expect(cost).toMatchObject({ unit: '{currency}', kind: 'sum', monotonic: true });
    for (const keyId of ['default/k', 'default/lim']) {
      const mine = served().filter((e) => e.keyId === keyId);
      // The served attempt's usage plus failed attempts that were sent (charged: issue #10).
      const billed = (e: ChatEvent, f: 'inputTokens' | 'outputTokens' | 'costNanos'): number =>
        (e.result?.usage?.[f] ?? 0) + (e.charged ?? []).reduce((a, c) => a + c[f], 0);
      const all = gw.events.filter((e) => e.keyId === keyId);
      expect(mine.length).toBeLessThanOrEqual(all.length);
      expect(total(pointsWhere(tokens, { 'tokenhub.key.id': keyId, 'gen_ai.token.type': 'input' }))).toBe(
        all.reduce((a, e) => a + billed(e, 'inputTokens'), 0),
      );
      expect(total(pointsWhere(tokens, { 'tokenhub.key.id': keyId, 'gen_ai.token.type': 'output' }))).toBe(
        all.reduce((a, e) => a + billed(e, 'outputTokens'), 0),
      );
    }
    // primary's failing backends were charged their input (at primary's price: none here).
    expect(gw.events.flatMap((e) => e.charged ?? []).filter((c) => c.model === 'primary' && c.inputTokens > 0)).not.toHaveLength(0);
    const charges = gw.events.reduce((a, e) => a + (e.charged ?? []).reduce((b, c) => b + c.costNanos, 0), 0);
    expect(total(cost?.points ?? [])).toBeCloseTo((sumOf((e) => e.result?.usage?.costNanos ?? 0) + charges) / 1e9, 12);
    expect(new Set(cost?.points.map((p) => p.attributes['tokenhub.currency']))).toEqual(new Set(['USD']));
    expect(JSON.stringify([...metrics.values()])).not.toContain(KEY);
  });

  it('exports reservation drift, limiter store latency, and the config revision and reloads', () => {
    const drift = metrics.get('tokenhub.reservation.drift');
    expect(drift).toMatchObject({ unit: '{token}', kind: 'histogram' });
    // Reserved tokens exist where a TPM limit applies: alpha's two requests.
    const reserved = served().filter((e) => e.result?.reservedTokens !== undefined);
    expect(reserved.map((e) => e.requestId)).toEqual(['tel-plain', 'tel-stream']);
    expect(total(drift?.points ?? [], 'count')).toBe(2);
    expect(drift?.points.map((p) => p.attributes)).toEqual([{ 'gen_ai.response.model': 'alpha', 'tokenhub.reservation.direction': 'over' }]);
    const expected = reserved.reduce(
      (a, e) => a + Math.abs((e.result?.reservedTokens ?? 0) - (e.result?.usage?.inputTokens ?? 0) - (e.result?.usage?.outputTokens ?? 0)),
      0,
    );
    expect(total(drift?.points ?? [], 'sum')).toBe(expected);
    const limiter = metrics.get('tokenhub.limiter.operation.duration');
    expect(limiter).toMatchObject({ unit: 's', kind: 'histogram' });
    // One admit per upstream attempt (each of primary's two backends, beta for the fallback), one settle per admit.
    expect(pointsWhere(limiter, { 'tokenhub.limiter.operation': 'admit', 'tokenhub.limiter.store': 'memory' })[0]?.count).toBe(8);
    expect(pointsWhere(limiter, { 'tokenhub.limiter.operation': 'settle' })[0]?.count).toBe(7);
    const revision = gw.holder.current()?.revision ?? '';
    expect(metrics.get('tokenhub.config.revision')?.points).toEqual([{ attributes: {}, value: Number.parseInt(revision.slice(0, 12), 16) }]);
    expect(metrics.get('tokenhub.config.last_reload')).toMatchObject({ unit: 's', kind: 'gauge' });
    expect(metrics.get('tokenhub.config.reloads')).toMatchObject({ unit: '{reload}', kind: 'sum', monotonic: true, points: [{ value: gw.holder.reloads }] });
  });
});

describe('traces', () => {
  const spans = () => spansOf(receiver.received.filter((r) => r.path === '/v1/traces').map((r) => r.json));
  const serverSpan = (id: string) => spans().find((s) => s.kind === 2 && s.attributes['tokenhub.request.id'] === id);

  it('makes a server span per request with GenAI attributes, joined to the caller trace', () => {
    const s = serverSpan('tel-plain');
    expect(s).toMatchObject({ name: 'chat alpha', traceId: CALLER_TRACE, parentSpanId: CALLER_SPAN });
    const usage = eventOf('tel-plain').result?.usage;
    expect(s?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'alpha',
      'gen_ai.response.model': 'alpha',
      'gen_ai.provider.name': 'openai',
      'gen_ai.usage.input_tokens': usage?.inputTokens,
      'gen_ai.usage.output_tokens': usage?.outputTokens,
      'tokenhub.key.id': 'default/k',
      'http.response.status_code': 200,
      'tokenhub.outcome': 'served',
      'tokenhub.cost': formatNanos(usage?.costNanos ?? 0),
    });
    expect(serverSpan('tel-limited')?.attributes).toMatchObject({
      'http.response.status_code': 429,
      'tokenhub.outcome': 'limited',
      'error.type': 'rate_limit_exceeded',
    });
    expect(spans().filter((x) => x.kind === 3 && x.parentSpanId === serverSpan('tel-limited')?.spanId)).toEqual([]);
  });

  it('makes one client span per upstream attempt under the server span: retries and the fallback', () => {
    const server = serverSpan('tel-fallback');
    expect(server).toMatchObject({ name: 'chat primary', attributes: { 'tokenhub.attempts': 3, 'tokenhub.fallbacks': 1, 'gen_ai.response.model': 'beta' } });
    const clients = spans()
      .filter((x) => x.parentSpanId === server?.spanId)
      .sort((a, b) => Number(a.attributes['tokenhub.attempt']) - Number(b.attributes['tokenhub.attempt']));
    expect(clients.map((c) => [c.kind, c.name, c.traceId, c.attributes['tokenhub.attempt.outcome'], c.attributes['error.type'] ?? null])).toEqual([
      [3, 'chat primary', server?.traceId, 'retryable', 'upstream_error'],
      [3, 'chat primary', server?.traceId, 'retryable', 'upstream_error'],
      [3, 'chat beta', server?.traceId, 'served', null],
    ]);
    expect(
      clients
        .slice(0, 2)
        .map((c) => c.attributes['tokenhub.backend'])
        .sort(),
    ).toEqual(['east', 'west']);
    expect(clients[2]?.attributes).toMatchObject({
      'gen_ai.usage.output_tokens': eventOf('tel-fallback').result?.usage?.outputTokens,
      'server.address': '127.0.0.1',
    });
  });

  it('sends W3C trace context to the upstream: the attempt span is the upstream call parent', () => {
    // The fallback's last attempt was the mock's last request before the 401 and the bad JSON (which never went upstream).
    const server = serverSpan('tel-fallback');
    const last = spans().find((x) => x.parentSpanId === server?.spanId && x.attributes['tokenhub.attempt'] === 3);
    expect(gw.mock.stats().lastRequest?.headers['traceparent']).toBe(`00-${last?.traceId}-${last?.spanId}-01`);
  });
});

describe('Prometheus scrape endpoint', () => {
  it('serves the same numbers as the OTLP export', async () => {
    const res = await fetch(telemetry.metricsUrl as string);
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (name: string, labels: Record<string, string>): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
        .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const upstream = gw.mock.stats().usage;
    expect(value('gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' })).toBe(upstream.promptTokens);
    expect(value('gen_ai_client_token_usage_sum', { gen_ai_token_type: 'output' })).toBe(upstream.completionTokens);
    expect(value('tokenhub_requests_total', { tokenhub_outcome: 'limited', tokenhub_key_id: 'default/lim' })).toBe(1);
    expect(value('tokenhub_fallbacks_total', { gen_ai_request_model: 'primary', gen_ai_response_model: 'beta' })).toBe(1);
    expect(value('tokenhub_tokens_total', { tokenhub_key_id: 'default/k' })).toBe(
      total(pointsWhere(metrics.get('tokenhub.tokens'), { 'tokenhub.key.id': 'default/k' })),
    );
    expect(value('tokenhub_cost_total', {})).toBeCloseTo(total(metrics.get('tokenhub.cost')?.points ?? []), 12);
    expect(value('gen_ai_client_operation_time_to_first_chunk_count', {})).toBe(2);
    expect(value('tokenhub_config_revision', {})).toBe(metrics.get('tokenhub.config.revision')?.points[0]?.value);
    expect(value('tokenhub_limiter_operation_duration_count', { tokenhub_limiter_operation: 'admit' })).toBe(8);
    expect(text).not.toContain(KEY);
  });
});

describe('logs', () => {
  const lines = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const access = () => lines().filter((l) => l['msg'] === 'request completed');

  it('writes one access line per chat request, with the key id, models, tokens, cost and status', () => {
    expect(access()).toHaveLength(8);
    const plain = eventOf('tel-plain');
    expect(access().find((l) => l['requestId'] === 'tel-plain')).toMatchObject({
      level: 30,
      key: 'default/k',
      model: 'alpha',
      servedModel: 'alpha',
      status: 200,
      outcome: 'served',
      inputTokens: plain.result?.usage?.inputTokens,
      outputTokens: plain.result?.usage?.outputTokens,
      cost: formatNanos(plain.result?.usage?.costNanos ?? 0),
      latencyMs: expect.any(Number),
      attempts: 1,
      fallbacks: 0,
      stream: false,
    });
    expect(access().find((l) => l['requestId'] === 'tel-fallback')).toMatchObject({ model: 'primary', servedModel: 'beta', attempts: 3, fallbacks: 1 });
    expect(access().find((l) => l['requestId'] === 'tel-limited')).toMatchObject({
      key: 'default/lim',
      status: 429,
      outcome: 'limited',
      error: 'rate_limit_exceeded',
    });
    expect(access().find((l) => l['status'] === 400)).toMatchObject({ outcome: 'rejected', error: 'invalid_json' });
  });

  it('never logs a key or prompt text', () => {
    const all = logLines.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [KEY, LIMITED_KEY, WRONG_KEY, PROMPT, 'Echo:', 'Bearer']) expect(all).not.toContain(secret);
  });
});

describe('Grafana dashboard', () => {
  it('queries only metrics and labels the gateway serves', async () => {
    const text = await (await fetch(telemetry.metricsUrl as string)).text();
    const { metrics: names, labels } = dashboardRefs((expr) => !expr.includes('tokenhub_operator_'));
    expect(names.size).toBeGreaterThan(10);
    for (const name of names) expect(text, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    for (const label of labels) expect(text, label).toContain(`${label}="`);
  });
});
