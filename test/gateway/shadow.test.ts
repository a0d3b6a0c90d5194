/**
 * Shadow QuotaPolicies (`mode: Shadow`): evaluated and counted on counters of their own, reported
 * (response header, access log field, metric), never enforced. The clock stands still, so every
 * count is exact. Enforced policies of the same key keep refusing as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayObserver } from '../../src/gateway/events.js';
import { budgetId, keyTag } from '../../src/limits/plan.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { accessLogLine } from '../../src/telemetry/access-log.js';
import { GatewayTelemetry } from '../../src/telemetry/index.js';
import { type RawResponse, type TestGateway, eventually, keyYaml, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const K = { rpm: 'th-shadow-rpm', budget: 'th-shadow-budget', model: 'th-shadow-model', both: 'th-shadow-both' } as const;
const hello = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hello' }] };

let gw: TestGateway;
let telemetry: GatewayTelemetry;
const send = (key: string): Promise<RawResponse> => postChat(gw.baseURL, { key, body: hello });
const shadowHeader = (r: RawResponse): string | null => r.headers.get('x-tokenhub-shadow-limited');

beforeAll(async () => {
  telemetry = await GatewayTelemetry.start({ env: {}, metricsPort: 0, metricsHost: '127.0.0.1' });
  let observer: GatewayObserver | undefined;
  gw = await startTestGateway({
    clock: () => NOW,
    store: new MemoryLimitStore(),
    yaml: [
      modelYaml({ name: 'm' }),
      policyYaml('roomy', '{rateLimits: {rpm: 100}}'),
      policyYaml('tight-rpm', '{mode: Shadow, rateLimits: {rpm: 2}}'),
      policyYaml('tight-budget', '{mode: Shadow, budgets: {tokens: {day: 10}}}'),
      policyYaml('tight-model', '{mode: Shadow, modelRateLimits: [{model: m, rpm: 1}]}'),
      policyYaml('enforced-2', '{rateLimits: {rpm: 2}}'),
      policyYaml('shadow-roomy', '{mode: Shadow, rateLimits: {rpm: 100}}'),
      keyYaml({ name: 'rpm', clear: K.rpm, policies: ['roomy', 'tight-rpm'] }),
      keyYaml({ name: 'budget', clear: K.budget, policies: ['tight-budget'] }),
      keyYaml({ name: 'model', clear: K.model, policies: ['tight-model'] }),
      keyYaml({ name: 'both', clear: K.both, policies: ['enforced-2', 'shadow-roomy'] }),
    ].join(''),
    gateway: { observer: { watchChat: (req) => (observer as GatewayObserver).watchChat(req) } },
  });
  observer = telemetry.observer(gw.holder);
});
afterAll(async () => {
  await gw?.close();
  await telemetry?.shutdown();
});

describe('mode: Shadow', () => {
  it('a shadow rpm of 2: the third request is served, flagged key:rpm in header and access log, and enforced limits are unchanged', async () => {
    const res = [await send(K.rpm), await send(K.rpm), await send(K.rpm)];
    expect(res.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(res.map(shadowHeader)).toEqual([null, null, 'key:rpm']);
    // The enforced policy (rpm 100) is what the rate headers describe.
    expect(res.map((r) => r.headers.get('x-ratelimit-remaining-requests'))).toEqual(['99', '98', '97']);
    const lines = gw.events.filter((e) => e.keyId === 'default/rpm').map(accessLogLine);
    expect(lines.map((l) => l.shadowLimited)).toEqual([undefined, undefined, 'key:rpm']);
    expect(lines.map((l) => l.status)).toEqual([200, 200, 200]);
    // Shadow counters are their own: two admitted (the third would have been refused, so it reserved nothing).
    const [shadowRpm] = await gw.store.peek([{ id: `${keyTag('default/rpm#shadow')}:rpm`, scope: 'key', unit: 'requests', limit: 2, cost: 0 }], NOW);
    expect(shadowRpm?.remaining).toBe(0);
  });

  it('a shadow token budget counts the real usage and flags budget:tokens:day once spent', async () => {
    const first = await send(K.budget);
    expect(first.status).toBe(200);
    expect(shadowHeader(first)).toBeNull();
    const used = (first.json as { usage: { total_tokens: number } }).usage.total_tokens;
    // Reserved input + max_tokens, settled to what was really used.
    expect(await gw.store.budgetUsed(budgetId('default/budget#shadow', 'tokens', 'd2026-11-28'))).toBe(used);
    const second = await send(K.budget);
    expect(second.status).toBe(200);
    expect(shadowHeader(second)).toBe('budget:tokens:day');
    expect(await gw.store.budgetUsed(budgetId('default/budget#shadow', 'tokens', 'd2026-11-28'))).toBe(used);
    // Nothing is enforced for this key: its enforced counters do not exist.
    expect(await gw.store.budgetUsed(budgetId('default/budget', 'tokens', 'd2026-11-28'))).toBe(0);
  });

  it('a shadow per-model limit flags key-model:rpm', async () => {
    expect(shadowHeader(await send(K.model))).toBeNull();
    const second = await send(K.model);
    expect(second.status).toBe(200);
    expect(shadowHeader(second)).toBe('key-model:rpm');
  });

  it('an enforced policy beside a shadow one still refuses (429), and a roomy shadow flags nothing', async () => {
    const res = [await send(K.both), await send(K.both), await send(K.both)];
    expect(res.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(res.map(shadowHeader)).toEqual([null, null, null]);
    // The shadow check runs beside the enforced one: the refused request's shadow reservation is given back.
    const shadowRpm = { id: `${keyTag('default/both#shadow')}:rpm`, scope: 'key', unit: 'requests', limit: 100, cost: 0 } as const;
    await eventually(async () => (await gw.store.peek([shadowRpm], NOW))[0]?.remaining === 98);
    expect((await gw.store.peek([shadowRpm], NOW))[0]?.remaining).toBe(98);
  });

  it('counts flagged requests in tokenhub.shadow.limited by key and limit', async () => {
    const text = await (await fetch(telemetry.metricsUrl as string)).text();
    const value = (labels: string): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith('tokenhub_shadow_limited_total{') && l.includes(labels))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(value('tokenhub_key_id="default/rpm",tokenhub_shadow_limit="key:rpm"')).toBe(1);
    expect(value('tokenhub_key_id="default/budget",tokenhub_shadow_limit="budget:tokens:day"')).toBe(1);
    expect(value('tokenhub_key_id="default/model",tokenhub_shadow_limit="key-model:rpm"')).toBe(1);
    expect(value('tokenhub_key_id="default/both"')).toBe(0);
  });
});
