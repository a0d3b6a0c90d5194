/**
 * Python clients: the official `openai` Python package (pinned, in a cached virtualenv made by
 * scripts/python-venv.sh) against the gateway over real HTTP. First the README's Python snippet,
 * verbatim but for the port, on the examples/ catalog; then chat, a stream with usage,
 * `fallback_models` through `extra_body`, a 429 the SDK's retry honours, a spent budget it does
 * not retry, and each error status raised as the SDK's own exception class.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, pointBackendsAt } from '../../src/gateway/demo.js';
import { type RunningGateway, startGateway } from '../../src/gateway/server.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type TestGateway, keyYaml, modelYaml, policyYaml, startTestGateway } from '../support/gateway.js';
import { pythonWithOpenAI, runPython } from '../support/python.js';

const ROOT = join(import.meta.dirname, '../..');
const CHECKS = join(import.meta.dirname, 'sdk_checks.py');
let python: string;
let dir: string;

beforeAll(async () => {
  python = await pythonWithOpenAI();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-py-'));
}, 300_000);
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("the README's Python snippet", () => {
  let mock: MockUpstream;
  let gw: RunningGateway;
  let snippet: string;

  beforeAll(async () => {
    mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
    gw = await startGateway({ configPaths: [join(ROOT, 'examples')], host: '127.0.0.1', port: 0, transform: pointBackendsAt(mock.url), logger: false });
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const block = /```python\n([\s\S]*?)```/.exec(readme)?.[1];
    if (block === undefined) throw new Error('README.md has no ```python block');
    expect(block).toContain('http://localhost:8080/api/v1');
    expect(block).toContain(DEMO_KEY);
    snippet = join(dir, 'readme.py');
    await writeFile(snippet, block.replaceAll('http://localhost:8080', gw.url));
  });
  afterAll(async () => {
    await gw?.close();
    await mock?.close();
  });

  it('runs as written and prints the model that answered and its reply', async () => {
    const out = await runPython({ python, script: snippet });
    expect(out).toMatch(/^doubao-seed-2-0-pro-260215 \S.*\n$/);
  });

  it('falls back to the model its extra_body names when the first one is down', async () => {
    mock.setBehaviour('doubao-seed-2-0-pro-260215', { status: 503 });
    const out = await runPython({ python, script: snippet });
    expect(out).toMatch(/^doubao-seed-2-0-lite-260215 \S/);
    mock.setBehaviour('doubao-seed-2-0-pro-260215', undefined);
  });
});

describe('the openai Python SDK against the gateway', () => {
  let gw: TestGateway;
  const KEYS = { TH_KEY_MAIN: 'th-py-main', TH_KEY_RPM: 'th-py-rpm', TH_KEY_BUDGET: 'th-py-budget' };
  const scenario = async (name: string): Promise<Record<string, unknown>> =>
    JSON.parse(await runPython({ python, script: CHECKS, args: [gw.baseURL, name], env: { ...KEYS, TH_RPM: '20' } })) as Record<string, unknown>;
  const attempts = (keyId: string): number => gw.events.filter((e) => e.keyId === keyId).length;

  beforeAll(async () => {
    gw = await startTestGateway({
      yaml: [
        modelYaml({ name: 'm', maxOutput: 1024 }),
        modelYaml({ name: 'down' }),
        modelYaml({ name: 'private' }),
        policyYaml('rpm20', '{rateLimits: {rpm: 20}}'),
        policyYaml('tiny', '{budgets: {tokens: {day: 10}}}'),
        keyYaml({ name: 'main', clear: KEYS.TH_KEY_MAIN, allowed: ['m', 'down'] }),
        keyYaml({ name: 'rpm', clear: KEYS.TH_KEY_RPM, allowed: ['m'], policies: ['rpm20'] }),
        keyYaml({ name: 'budget', clear: KEYS.TH_KEY_BUDGET, allowed: ['m'], policies: ['tiny'] }),
      ].join(''),
    });
    gw.mock.setBehaviour('down', { status: 503 });
  });
  afterAll(async () => gw?.close());

  it('chat: a completion with the usage the gateway billed', async () => {
    const r = await scenario('chat');
    expect(r['model']).toBe('m');
    expect(r['content']).toEqual(expect.stringMatching(/\S/));
    const usage = r['usage'] as Record<string, number>;
    const billed = gw.events.at(-1)?.result;
    expect(usage['total_tokens']).toBe((usage['prompt_tokens'] ?? 0) + (usage['completion_tokens'] ?? 0));
    expect(JSON.stringify(billed)).toContain(`"outputTokens":${usage['completion_tokens']}`);
  });

  it('stream: chunks as they come, and the usage chunk the client asked for', async () => {
    const r = await scenario('stream');
    expect(r['content']).toEqual(expect.stringMatching(/\S/));
    expect(r['chunks']).toBeGreaterThan(2);
    const usage = r['usage'] as Record<string, number>;
    expect(usage['completion_tokens']).toBeGreaterThan(0);
    expect(usage['total_tokens']).toBe((usage['prompt_tokens'] ?? 0) + (usage['completion_tokens'] ?? 0));
  });

  it('fallback_models through extra_body: the body and x-tokenhub-model name the model that answered', async () => {
    expect(await scenario('fallback')).toEqual({ model: 'm', header: 'm' });
  });

  it('a 429 rate_limit_exceeded: the SDK waits for retry-after-ms and its retry succeeds', async () => {
    const before = attempts('default/rpm');
    const r = await scenario('retry_429');
    expect(r['status']).toBe(200);
    expect(r['retries_taken']).toBe(1);
    // rpm 20 (one request every 3 s): after a burst of 20 the next is admissible ~3 s after the first.
    expect(r['waited_ms']).toBeGreaterThanOrEqual(1500);
    expect(attempts('default/rpm') - before).toBe(22);
    const denied = gw.events.filter((e) => e.keyId === 'default/rpm' && e.error !== undefined);
    expect(denied.map((e) => e.error?.code)).toEqual(['rate_limit_exceeded']);
  });

  it('a spent budget is insufficient_quota: RateLimitError at once, no retry (x-should-retry: false)', async () => {
    const before = attempts('default/budget');
    const r = await scenario('quota');
    expect(r).toMatchObject({ class: 'RateLimitError', status: 429, code: 'insufficient_quota', should_retry: 'false' });
    expect(attempts('default/budget') - before).toBe(2);
  });

  it("errors are raised as the SDK's own classes", async () => {
    const r = await scenario('errors');
    expect(r['bad_key']).toMatchObject({ class: 'AuthenticationError', status: 401, code: 'invalid_api_key' });
    expect(r['not_allowed']).toMatchObject({ class: 'PermissionDeniedError', status: 403 });
    expect(r['unknown_model']).toMatchObject({ class: 'NotFoundError', status: 404, code: 'model_not_found' });
    expect(r['too_many_tokens']).toMatchObject({ class: 'BadRequestError', status: 400, type: 'invalid_request_error' });
    expect(r['models']).toEqual(['down', 'm']);
  });
});
