/**
 * Property: no request body or header set makes the gateway answer 5xx or crash (issue #11).
 * The app is built with buildGateway and driven through fastify's inject (no sockets), against
 * the project's mock upstream over real HTTP for the requests that get that far.
 */
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway } from '../../src/gateway/app.js';
import { ConfigHolder } from '../../src/gateway/config/config-holder.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { compileYaml, keyYaml, modelYaml, policyYaml } from '../support/gateway.js';

const KEY = 'th-property-key';
const MODELS = ['prop-a', 'prop-b'];

let mock: MockUpstream;
let app: FastifyInstance;

beforeAll(async () => {
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  const yaml = [
    modelYaml({ name: 'prop-a', capabilities: ['text', 'tools', 'structuredOutput', 'multimodal'], fallback: ['prop-b'] }),
    modelYaml({ name: 'prop-b', maxOutput: 64 }),
    policyYaml('roomy', '{rateLimits: {rpm: 100000, tpm: 100000000}}'),
    keyYaml({ name: 'prop', clear: KEY, policies: ['roomy'] }),
    keyYaml({ name: 'narrow', clear: `${KEY}-narrow`, allowed: ['prop-b'] }),
  ].join('');
  const { config, verdicts } = compileYaml(yaml, { mockURL: mock.url });
  expect(verdicts.filter((v) => !v.ready)).toEqual([]);
  const holder = new ConfigHolder();
  holder.swap(config);
  app = buildGateway({ holder, store: new MemoryLimitStore() });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await mock?.close();
});

const junk = fc.anything({ maxDepth: 3, maxKeys: 5 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: junk });
const int = fc.oneof(fc.integer({ min: -10, max: 200_000 }), fc.constantFrom(0, 2 ** 31, 2 ** 53, 1e308), fc.double());
const text = fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom('', '\u0000', '\ud800', 'x'.repeat(5000)));

const contentPart = fc.oneof(
  fc.record({ type: fc.constant('text'), text: maybe(text) }),
  fc.record({ type: fc.constant('image_url'), image_url: maybe(fc.record({ url: fc.constantFrom('data:image/png;base64,AAAA', 'https://x/y.png') })) }),
  junk,
);
const message = fc.record(
  {
    role: maybe(fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer', 'bogus')),
    content: fc.oneof(text, fc.array(contentPart, { maxLength: 3 }), junk),
    name: maybe(fc.string({ maxLength: 10 })),
    tool_call_id: maybe(fc.string({ maxLength: 10 })),
  },
  { requiredKeys: ['role'] },
);

const body = fc.record(
  {
    model: maybe(fc.oneof(fc.constantFrom(...MODELS, 'nope'), fc.string({ maxLength: 20 }))),
    messages: maybe(fc.array(message, { maxLength: 4 })),
    max_tokens: maybe(int),
    max_completion_tokens: maybe(int),
    n: maybe(fc.oneof(fc.integer({ min: -1, max: 5 }), int)),
    stream: maybe(fc.boolean()),
    stream_options: maybe(fc.record({ include_usage: maybe(fc.boolean()) }, { requiredKeys: [] })),
    temperature: maybe(fc.double()),
    tools: maybe(fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name: fc.string({ maxLength: 8 }) }) }), { maxLength: 2 })),
    response_format: maybe(fc.oneof(fc.constant({ type: 'json_schema', json_schema: { name: 'x', schema: {} } }), fc.constant({ type: 'json_object' }))),
    fallback_models: maybe(fc.array(fc.oneof(fc.constantFrom(...MODELS), fc.string({ maxLength: 10 })), { maxLength: 4 })),
    reasoning_effort: maybe(fc.constantFrom('low', 'high')),
  },
  { requiredKeys: [] },
);

/** Near a valid request: a known model and one user message, with a few random fields on top. */
const plausible = fc.record({
  model: fc.constantFrom(...MODELS),
  messages: fc.array(fc.record({ role: fc.constantFrom('user', 'system'), content: fc.string({ maxLength: 40 }) }), { minLength: 1, maxLength: 3 }),
  max_tokens: fc.option(fc.integer({ min: 1, max: 2000 }), { nil: undefined }),
  stream: fc.option(fc.boolean(), { nil: undefined }),
  fallback_models: fc.option(fc.array(fc.constantFrom(...MODELS, 'nope'), { maxLength: 2 }), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true }), { nil: undefined }),
});

const payload = fc.oneof(
  { weight: 4, arbitrary: plausible.map((b) => JSON.stringify(b)) },
  { weight: 6, arbitrary: body.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: junk.map((j) => JSON.stringify(j) ?? 'null') },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '{', '{"model":', '[]', 'null', '{"messages":[{"role":"user","content":"hi"}],"model":"prop-a","max_tokens":1e999}'),
  },
);

const headers = fc
  .record(
    {
      authorization: maybe(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(`Bearer ${KEY}`) },
          fc.constantFrom(`Bearer ${KEY}`, `Bearer ${KEY}-narrow`, 'Bearer ', 'Bearer th-wrong', 'Basic abc', ''),
          fc.string({ maxLength: 40 }).map((s) => `Bearer ${s.replace(/[\r\n]/g, '')}`),
        ),
      ),
      'content-type': maybe(
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'),
      ),
      'x-request-id': maybe(fc.string({ maxLength: 200 })),
      accept: maybe(fc.constantFrom('text/event-stream', 'application/json', '*/*')),
    },
    { requiredKeys: [] },
  )
  .map((h) => {
    // Only header values a client can actually send (strings without CR/LF or other control bytes).
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && /^[\t\x20-\x7e]*$/.test(v)) out[k] = v;
    return out;
  });

describe('the gateway on random requests', () => {
  it('never answers 5xx and always answers JSON errors in the OpenAI shape', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(payload, headers, fc.constantFrom('/api/v1/chat/completions', '/v1/chat/completions'), async (raw, h, url) => {
        const res = await app.inject({ method: 'POST', url, payload: raw, headers: h });
        seen.add(res.statusCode);
        expect(res.statusCode, `${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500);
        if (res.statusCode >= 400) {
          const parsed = JSON.parse(res.body) as { error?: { message?: unknown; type?: unknown } };
          expect(typeof parsed.error?.message).toBe('string');
          expect(res.body).not.toContain(KEY);
          expect(res.body).not.toMatch(/\n\s+at /);
        }
      }),
      { numRuns: 250 },
    );
    // The draw reaches every stage: refused keys, refused bodies, and answers from the upstream.
    expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401]));
  });

  it('never answers 5xx on model lookups with odd ids', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 100 }), async (id) => {
        const res = await app.inject({ method: 'GET', url: `/api/v1/models/${encodeURIComponent(id)}`, headers: { authorization: `Bearer ${KEY}` } });
        expect(res.statusCode).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
  });
});
