/**
 * `tokenhub gateway --kubernetes` as a process against a real kube-apiserver + etcd, under exactly
 * the chart's gateway RBAC rules: config from ModelRoutes, ApiKeys and QuotaPolicies, hot reload
 * under load (measured), the last good config kept on an invalid change, and RBAC that bites.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { eventually, keyYaml, modelYaml, policyYaml } from '../support/gateway.js';
import { freePort } from '../../src/devtools/control-plane-process.js';
import { type GatewayProcess, ensureBuilt, startGatewayProcess } from '../support/gateway-process.js';
import { applyYaml, bindRules, canI, kubectlOk, loadRules } from '../support/kube.js';
import { outcome, startLoad, timeUntilSeen } from '../support/traffic.js';

const NS = 'hot-reload';
const RULES = new URL('../../charts/tokenhub/files/rbac/gateway.yaml', import.meta.url).pathname;
const CRDS = new URL('../../crds/', import.meta.url).pathname;
const BUDGET_MS = 2000;
const KEYS = {
  load: 'th-load-key',
  limited: 'th-limited-key',
  fresh: 'th-fresh-key',
  disable: 'th-disable-key',
  doomed: 'th-doomed-key',
  marker: 'th-marker-key',
};

let mock: MockUpstream;
let dir: string;
let cp: ControlPlane;
let gw: GatewayProcess;
let kubeconfig: string;

const client = (key: string, on: GatewayProcess = gw): OpenAI => new OpenAI({ baseURL: on.baseURL, apiKey: key, maxRetries: 0, timeout: 10_000 });
const chat =
  (key: string, model = 'chat', on: GatewayProcess = gw) =>
  () =>
    client(key, on).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
const apply = (yaml: string, on: ControlPlane = cp) => applyYaml(on, NS, yaml.replaceAll('${MOCK}', mock.url));

/** CRDs, the gateway's ServiceAccount under exactly gateway.yaml, the objects, then the gateway. */
async function setUp(plane: ControlPlane, yaml: string, name: string, env: NodeJS.ProcessEnv = {}): Promise<{ gateway: GatewayProcess; kubeconfig: string }> {
  await kubectlOk(plane, ['apply', '-f', CRDS]);
  await kubectlOk(plane, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
  const kc = await bindRules({ cp: plane, namespace: NS, serviceAccount: 'gateway', rulesFile: RULES, clusterWide: true });
  await apply(yaml, plane);
  const gateway = await startGatewayProcess({ args: ['--kubernetes', '--namespace', NS, '--kubeconfig', kc], logFile: join(dir, `${name}.log`), env });
  return { gateway, kubeconfig: kc };
}

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-gw-cluster-'));
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('gateway --kubernetes against a real API server', () => {
  beforeAll(async () => {
    cp = await startControlPlane();
    ({ gateway: gw, kubeconfig } = await setUp(
      cp,
      modelYaml({ name: 'chat' }) +
        modelYaml({ name: 'slow' }) +
        policyYaml('roomy', '{rateLimits: {rpm: 100000}}') +
        policyYaml('tight', '{rateLimits: {rpm: 100000}}') +
        keyYaml({ name: 'load', clear: KEYS.load, policies: ['roomy'] }) +
        keyYaml({ name: 'limited', clear: KEYS.limited, policies: ['tight'] }) +
        keyYaml({ name: 'to-disable', clear: KEYS.disable, policies: ['roomy'] }) +
        keyYaml({ name: 'to-delete', clear: KEYS.doomed, policies: ['roomy'] }),
      'gateway',
    ));
  });

  afterAll(async () => {
    await gw?.stop();
    await cp?.stop();
  });

  it('serves a key from the cluster through the SDK', async () => {
    const res = await chat(KEYS.load)();
    expect(res.model).toBe('chat');
    expect(res.choices[0]?.message.content).toMatch(/^Echo:/);
    expect(await outcome(chat('th-not-a-key'))).toBe('401 invalid_api_key');
  });

  it('puts policy and key changes in force within 2 s under load, with no restart and nothing dropped', async () => {
    const pid = gw.pid();
    for (const key of [KEYS.limited, KEYS.disable, KEYS.doomed]) expect(await outcome(chat(key))).toBe('ok');
    expect(await outcome(chat(KEYS.fresh))).toBe('401 invalid_api_key');

    mock.setBehaviour('slow', { chunkDelayMs: 80, completionTokens: 120 });
    const streamStart = performance.now();
    const stream = (async () => {
      const s = await client(KEYS.load).chat.completions.create({
        model: 'slow',
        messages: [{ role: 'user', content: 'long' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let chunks = 0;
      let usage: OpenAI.CompletionUsage | undefined;
      let finish: string | null | undefined;
      for await (const c of s) {
        if (c.choices[0]?.delta.content) chunks++;
        finish ??= c.choices[0]?.finish_reason;
        if (c.usage) usage = c.usage;
      }
      return { chunks, usage, finish, endedAt: performance.now() };
    })();
    const load = startLoad({ client: client(KEYS.load), model: 'chat', workers: 4, maxMs: 30_000 });
    await eventually(() => load.ok() >= 8, 5_000);

    const latency: Record<string, number> = {};
    latency['(a) QuotaPolicy rpm lowered → 429'] = (
      await timeUntilSeen({
        change: () => apply(policyYaml('tight', '{rateLimits: {rpm: 1}}')),
        probe: () => outcome(chat(KEYS.limited)),
        expected: '429 rate_limit_exceeded',
      })
    ).ms;
    latency['(b) new ApiKey → 200'] = (
      await timeUntilSeen({
        change: () => apply(keyYaml({ name: 'fresh', clear: KEYS.fresh, policies: ['roomy'] })),
        probe: () => outcome(chat(KEYS.fresh)),
        expected: 'ok',
      })
    ).ms;
    latency['(c) ApiKey disabled → 401'] = (
      await timeUntilSeen({
        change: () => apply(keyYaml({ name: 'to-disable', clear: KEYS.disable, policies: ['roomy'], disabled: true })),
        probe: () => outcome(chat(KEYS.disable)),
        expected: '401 api_key_disabled',
      })
    ).ms;
    latency['(d) ApiKey deleted → 401'] = (
      await timeUntilSeen({
        change: () => kubectlOk(cp, ['-n', NS, 'delete', 'apikey', 'to-delete']),
        probe: () => outcome(chat(KEYS.doomed)),
        expected: '401 invalid_api_key',
      })
    ).ms;
    const changesDoneAt = performance.now();
    const result = await load.stop();
    const streamed = await stream;

    console.log(
      `apply → in force on the gateway (budget ${BUDGET_MS} ms):\n${Object.entries(latency)
        .map(([k, v]) => `  ${k}: ${v} ms`)
        .join('\n')}`,
    );
    console.log(
      `load: ${result.ok} requests ok, ${result.failures.length} failed; stream ${streamed.chunks} chunks over ${Math.round(streamed.endedAt - streamStart)} ms`,
    );
    for (const ms of Object.values(latency)) expect(ms).toBeLessThan(BUDGET_MS);
    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(20);
    // The stream was in flight through every change and still delivered all it was due.
    expect(streamed.endedAt).toBeGreaterThan(changesDoneAt);
    expect(streamed.finish).toBe('stop');
    expect(streamed.usage?.completion_tokens).toBe(120);
    expect(streamed.chunks).toBe(120);
    expect(gw.pid()).toBe(pid);
    expect(gw.exited()).toBeUndefined();
    // The others are untouched: a still-limited key does not leak into the load key.
    expect(await outcome(chat(KEYS.load))).toBe('ok');
  });

  it('keeps the last good config when the API server accepts a change that compile rejects', async () => {
    const pid = gw.pid();
    expect(await outcome(chat(KEYS.load, 'slow'))).toBe('ok');
    // One apply: a route now falling back to a missing model, a second route claiming `chat`,
    // and a marker key that shows the gateway has compiled this very state.
    await apply(
      modelYaml({ name: 'slow', fallback: ['no-such-model'] }) +
        modelYaml({ name: 'chat-impostor' }).replace('model: chat-impostor', 'model: chat') +
        keyYaml({ name: 'marker', clear: KEYS.marker, policies: ['roomy'] }),
    );
    await eventually(async () => (await outcome(chat(KEYS.marker))) === 'ok', 5_000);
    expect(await outcome(chat(KEYS.load, 'slow'))).toBe('ok');
    expect(await outcome(chat(KEYS.load, 'chat'))).toBe('ok');
    expect(mock.stats().lastRequest?.body).toMatchObject({ model: 'chat' });
    // Logs are written in batches (at most 250 ms late).
    await eventually(() => /invalid change ignored/.test(gw.log()), 2_000);
    expect(gw.pid()).toBe(pid);

    // Fixing the object puts the new version in force; the impostor never takes `chat` over.
    await apply(modelYaml({ name: 'slow' }));
    await kubectlOk(cp, ['-n', NS, 'delete', 'modelroute', 'chat-impostor']);
    expect(await outcome(chat(KEYS.load, 'slow'))).toBe('ok');
  });

  it('takes the Redis failure mode the operator sets in its environment (fail-closed → 503)', async () => {
    const closedPort = await freePort();
    const failClosed = await startGatewayProcess({
      args: ['--kubernetes', '--namespace', NS, '--kubeconfig', kubeconfig],
      logFile: join(dir, 'gateway-fail-closed.log'),
      env: { TOKENHUB_REDIS_URL: `redis://127.0.0.1:${closedPort}`, TOKENHUB_REDIS_FAILURE_MODE: 'fail-closed', TOKENHUB_REPLICAS: '3' },
    });
    try {
      expect(await outcome(chat(KEYS.load, 'chat', failClosed))).toBe('503 limiter_unavailable');
    } finally {
      await failClosed.stop();
    }
  });

  it('serves ModelRoutes only from the platform namespaces: a tenant cannot publish a model id (issue #11)', async () => {
    const tenant = 'tenant-squat';
    await kubectlOk(cp, ['create', 'namespace', tenant]);
    // The tenant's route is older than anything the platform might publish later under that id.
    await applyYaml(cp, tenant, (modelYaml({ name: 'squatted' }) + keyYaml({ name: 'tenant-key', clear: 'th-tenant-key' })).replaceAll('${MOCK}', mock.url));
    const fenced = await startGatewayProcess({
      args: ['--kubernetes', '--namespace', `${NS},${tenant}`, '--platform-namespace', NS, '--kubeconfig', kubeconfig],
      logFile: join(dir, 'gateway-platform.log'),
    });
    try {
      const ids = async (): Promise<string[]> => (await client(KEYS.load, fenced).models.list()).data.map((m) => m.id).sort();
      expect(await ids()).toEqual(['chat', 'slow']);
      expect(await outcome(chat(KEYS.load, 'squatted', fenced))).toMatch(/^404 /);
      // The tenant's own key still works, on the models the platform publishes.
      expect(await outcome(chat('th-tenant-key', 'chat', fenced))).toBe('ok');
    } finally {
      await fenced.stop();
      await kubectlOk(cp, ['delete', 'namespace', tenant, '--wait=false']);
    }
  });

  it('runs under exactly the gateway rules, and the rules bite', async () => {
    // What the gateway needs, it has; anything more it has not.
    for (const need of [
      ['list', 'apikeys.tokenhub.io'],
      ['watch', 'modelroutes.tokenhub.io'],
      ['get', 'quotapolicies.tokenhub.io'],
      ['watch', 'secrets'],
    ]) {
      expect(await canI(cp, kubeconfig, [...need, '-n', NS]), need.join(' ')).toBe(true);
    }
    for (const excess of [
      ['create', 'secrets'],
      ['patch', 'apikeys.tokenhub.io'],
      ['patch', 'apikeys.tokenhub.io', '--subresource=status'],
      ['get', 'configmaps'],
      ['create', 'leases.coordination.k8s.io'],
    ]) {
      expect(await canI(cp, kubeconfig, [...excess, '-n', NS]), excess.join(' ')).toBe(false);
    }
    // Without the secrets rule a gateway never becomes ready.
    const rules = (await loadRules(RULES)).filter((r) => !(r.resources ?? []).includes('secrets'));
    const partial = await bindRules({ cp, namespace: NS, serviceAccount: 'gateway-no-secrets', rules, clusterWide: true });
    const denied = await startGatewayProcess({
      args: ['--kubernetes', '--namespace', NS, '--kubeconfig', partial],
      logFile: join(dir, 'gateway-no-secrets.log'),
      waitReady: false,
    });
    try {
      await eventually(() => /watch failed[^\n]*secrets[^\n]*forbidden|forbidden[^\n]*secrets/i.test(denied.log()), 10_000);
      expect(await denied.readyz()).toBe(503);
      expect(denied.exited()).toBeUndefined();
    } finally {
      await denied.stop();
    }
  });
});

describe('watch recovery (API server without the watch cache, so compaction reaches the watches)', () => {
  let plane: ControlPlane;
  let gateway: GatewayProcess;
  const KEY = 'th-recovery-load';
  const WATCH_SECONDS = 2;
  /**
   * Moves etcd's revision two past everything the gateway has seen (configmaps are not
   * watched) and compacts there: no watch can resume from a resourceVersion it holds.
   */
  const bumpAndCompact = async (tag: string): Promise<number> => {
    for (const n of [1, 2]) await kubectlOk(plane, ['-n', NS, 'create', 'configmap', `bump-${tag}-${n}`]);
    return plane.compactEtcd();
  };
  const gone = (): number => (gateway.log().match(/410 Gone/g) ?? []).length;
  const newKeySeen = (name: string, clear: string) =>
    timeUntilSeen({
      change: () => apply(keyYaml({ name, clear, policies: ['roomy'] }), plane),
      probe: () => outcome(chat(clear, 'chat', gateway)),
      expected: 'ok',
      timeoutMs: 15_000,
    });

  beforeAll(async () => {
    plane = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
    ({ gateway } = await setUp(
      plane,
      modelYaml({ name: 'chat' }) + policyYaml('roomy', '{rateLimits: {rpm: 100000}}') + keyYaml({ name: 'load', clear: KEY, policies: ['roomy'] }),
      'gateway-recovery',
      // Watches renewed every 2 s, so each one soon resumes from a compacted resourceVersion.
      { TOKENHUB_WATCH_SECONDS: String(WATCH_SECONDS) },
    ));
  });

  afterAll(async () => {
    await gateway?.stop();
    await plane?.stop();
  });

  it('relists after an etcd compaction (410 Gone) and sees a key applied afterwards', async () => {
    const before = gone();
    await bumpAndCompact('1');
    // All four watches (three kinds and Secrets) renew, get 410 and relist.
    await eventually(() => gone() >= before + 4, (WATCH_SECONDS + 5) * 1000);
    const seen = await newKeySeen('after-compaction', 'th-after-compaction');
    console.log(`after compaction and 410 relists: new ApiKey in force in ${seen.ms} ms`);
    expect(seen.ms).toBeLessThan(BUDGET_MS);
    expect(await gateway.readyz()).toBe(200);
  });

  it('serves the old config through an API server restart, then picks up a key applied after it', async () => {
    const pid = gateway.pid();
    await bumpAndCompact('2');
    const load = startLoad({ client: client(KEY, gateway), model: 'chat', workers: 2, maxMs: 60_000 });
    await eventually(() => load.ok() >= 4, 5_000);
    const before = load.ok();
    const readiness = new Set<number>();
    const t0 = performance.now();
    const restart = plane.restartApiServer();
    let restarted = false;
    const done = (): void => void (restarted = true);
    restart.then(done, done);
    while (!restarted) {
      readiness.add(await gateway.readyz());
      await new Promise((r) => setTimeout(r, 200));
    }
    await restart;
    const restartMs = Math.round(performance.now() - t0);
    const duringRestart = load.ok() - before;
    const seen = await newKeySeen('after-restart', 'th-after-restart');
    const result = await load.stop();
    console.log(`API server restart took ${restartMs} ms, ${duringRestart} requests served meanwhile; new ApiKey in force ${seen.ms} ms after the apply`);
    expect(result.failures).toEqual([]);
    expect(duringRestart).toBeGreaterThan(10);
    expect([...readiness]).toEqual([200]);
    expect(seen.ms).toBeLessThan(5_000);
    expect(gateway.pid()).toBe(pid);
    expect(await outcome(chat('th-after-compaction', 'chat', gateway))).toBe('ok');
  });
});
