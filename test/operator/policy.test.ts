/**
 * The operator on a real API server: CRDs, examples/ to Ready, printer columns, generated key
 * Secrets, broken references, observedGeneration, no-op reconciles and usage write-back from a
 * real Redis. The operator runs under exactly the chart's RBAC rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, keyFingerprint } from '../../src/keys/hash.js';
import { periodId } from '../../src/limits/periods.js';
import { budgetId } from '../../src/limits/plan.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import type { KubeObject } from '../../src/kube/client.js';
import { OperatorMetrics } from '../../src/operator/metrics.js';
import { StatusWriter } from '../../src/operator/status/writer.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { FLEET_NS, type Obj, type TestOperator, applyExamples, getJson, kubectl, prepareCluster, readyOf, runOperator, waitFor } from './support.js';

const NS = FLEET_NS;

const modelRoute = (name: string, extra: string): string => `
apiVersion: tokenhub.io/v1alpha1
kind: ModelRoute
metadata: { name: ${name}, namespace: ${NS} }
spec:
  model: ${name}
  capabilities: [text]
  limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200${extra} }
  backends: [{ name: primary, baseURL: "http://127.0.0.1:9/v1" }]
`;

async function allObjects(cp: ControlPlane): Promise<Obj[]> {
  return (await getJson<{ items: Obj[] }>(cp, ['modelroutes,apikeys,quotapolicies', '-n', NS])).items;
}

describe('CRDs on a real API server', () => {
  let cp: ControlPlane;
  let kubeconfig: string;
  let op: TestOperator | undefined;
  let redis: RedisServer;
  let usageStore: RedisLimitStore;

  beforeAll(async () => {
    [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
    kubeconfig = await prepareCluster(cp);
    usageStore = new RedisLimitStore({ url: redis.url });
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
    await usageStore?.close();
    await Promise.all([cp?.stop(), redis?.stop()]);
  });

  it('explains spec.limits from the schema', async () => {
    const out = await kubectl(cp, ['explain', 'modelroutes.spec.limits']);
    expect(out).toMatch(/maxOutput/);
    expect(out).toMatch(/defaultMaxOutput/);
    expect(out).toMatch(/Largest max_tokens a request may ask for/);
  });

  it('rejects invalid objects with a readable message', async () => {
    const cases: [string, RegExp][] = [
      [
        modelRoute('wrong-type', ', maxReasoning: lots'),
        /spec\.limits\.maxReasoning: Invalid value: "string": spec\.limits\.maxReasoning in body must be of type integer/,
      ],
      [modelRoute('cel-rule', ', defaultMaxOutput: 300'), /defaultMaxOutput must not exceed maxOutput/],
      [modelRoute('cel-reasoning', ', maxReasoning: 100, reasoningAllowance: 101'), /reasoningAllowance must not exceed maxReasoning/],
      [modelRoute('cel-reasoning-output', ', reasoningAllowance: 201'), /reasoningAllowance must not exceed maxReasoning/],
      [
        `apiVersion: tokenhub.io/v1alpha1
kind: ApiKey
metadata: { name: two-sources, namespace: ${NS} }
spec:
  credential: { generate: {}, hash: "sha256:${'0'.repeat(64)}" }
`,
        /set exactly one of generate, secretRef, hash or serviceAccount/,
      ],
      // A pattern that would have frozen every gateway (issue #11): more than 8 stars.
      [
        `apiVersion: tokenhub.io/v1alpha1
kind: ApiKey
metadata: { name: star-storm, namespace: ${NS} }
spec:
  credential: { hash: "sha256:${'0'.repeat(64)}" }
  allowedModels: ["${'*'.repeat(40)}X"]
`,
        /spec\.allowedModels\[0\]: Invalid value/,
      ],
    ];
    for (const [yaml, message] of cases) {
      const res = await cp.kubectl(['apply', '-f', '-'], { input: yaml });
      expect(res.code, yaml).not.toBe(0);
      expect(res.stderr).toMatch(message);
    }
  });

  it('brings every object of examples/ to Ready=True', async () => {
    await kubectl(cp, ['-n', NS, 'create', 'secret', 'generic', 'ci-bot-credentials', '--from-literal=api-key=th-ci-bot-test-key']);
    await kubectl(cp, ['-n', NS, 'label', 'secret', 'ci-bot-credentials', 'tokenhub.io/credential=true']);
    op = await runOperator(kubeconfig, { store: usageStore, usageIntervalMs: 300 });
    await waitFor(() => op?.ready(), { what: 'caches synced' });
    const started = Date.now();
    await applyExamples(cp);
    const objects = await waitFor(
      async () => {
        const all = await allObjects(cp);
        return all.length === 15 && all.every((o) => readyOf(o).status === 'True') && all;
      },
      { what: 'all examples Ready' },
    );
    console.log(`apply → all 15 examples Ready=True: ${Date.now() - started} ms (incl. the generated Secret round trip)`);
    for (const o of objects) {
      expect(o.status?.observedGeneration).toBe(o.metadata.generation);
      expect(o.status?.ready).toBe('True');
    }
  });

  it('fills the printer columns', async () => {
    const out = await kubectl(cp, ['get', 'modelroutes,apikeys,quotapolicies', '-n', NS]);
    const line = (name: string): string => out.split('\n').find((l) => l.split(/\s+/)[0] === name) ?? '';
    expect(line('modelroute.tokenhub.io/doubao-seed-2-0-pro-260215')).toMatch(/doubao-seed-2-0-pro-260215\s+latest\s+True\s+30000\s+5000000/);
    for (const key of ['demo', 'ci-bot', 'team-search']) expect(line(`apikey.tokenhub.io/${key}`)).toMatch(/^\S+\s+[0-9a-f]{12}\s+True/);
    expect(line('quotapolicy.tokenhub.io/free-tier')).toMatch(/true\s+60\s+200000\s+2\s+True/);
    expect(line('quotapolicy.tokenhub.io/paid-tier')).toMatch(/\s1\s+True/);
    const wide = await kubectl(cp, ['get', 'apikeys', '-n', NS, '-o', 'wide']);
    expect(wide).toMatch(/REASON/);
    expect(wide.split('\n').filter((l) => /\sReady\s/.test(l))).toHaveLength(3);
  });

  it('generates the Secret of team-search, owned by the ApiKey, and shows only a fingerprint', async () => {
    const key = await getJson<Obj>(cp, ['apikey', 'team-search', '-n', NS]);
    const secret = await getJson<Obj & { data: Record<string, string>; type: string; metadata: { labels: Record<string, string> } }>(cp, [
      'secret',
      'team-search-key',
      '-n',
      NS,
    ]);
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata.labels['app.kubernetes.io/managed-by']).toBe('tokenhub');
    // TokenHub watches only Secrets that carry the credential label, so the generated one does.
    expect(secret.metadata.labels['tokenhub.io/credential']).toBe('true');
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ApiKey', name: 'team-search', uid: key.metadata.uid, controller: true }),
    ]);
    const clear = Buffer.from(secret.data['api-key'] ?? '', 'base64').toString('utf8');
    expect(clear).toMatch(/^th-[A-Za-z0-9_-]{43}$/);
    expect(key.status?.['keyPrefix']).toBe(keyFingerprint(hashKey(clear)));
    expect(key.status?.['secretName']).toBe('team-search-key');
    expect(JSON.stringify(key)).not.toContain(clear);
  });

  it('writes usage from Redis into the ApiKey status, and does not rewrite it unchanged', async () => {
    const now = new Date();
    const keyId = `${NS}/team-search`;
    const budgets = (['month', 'total'] as const).map((p) => ({
      id: budgetId(keyId, 'cost', periodId(p, now)),
      unit: 'cost' as const,
      period: p,
      limit: 10 ** 15,
      cost: 1000,
    }));
    const reservation = { requestId: 'usage-test-1', keyId, rates: [], budgets };
    expect((await usageStore.admit(reservation, now.getTime())).allowed).toBe(true);
    const usage = {
      requestId: 'usage-test-1',
      keyId,
      model: 'doubao-seed-2-0-pro-260215',
      inputTokens: 1200,
      outputTokens: 300,
      costNanos: 2_500_000,
      at: now.getTime(),
    };
    await usageStore.settle({ reservation, actual: { tokens: 1500, costNanos: 2_500_000 }, usage }, now.getTime());
    const key = await waitFor(
      async () => {
        const o = await getJson<Obj>(cp, ['apikey', 'team-search', '-n', NS]);
        return (o.status?.['usage'] as { requests?: number } | undefined)?.requests === 1 && o;
      },
      { what: 'usage in status' },
    );
    expect(key.status?.['usage']).toMatchObject({
      period: periodId('month', now),
      requests: 1,
      inputTokens: 1200,
      outputTokens: 300,
      cost: '0.0025',
      remainingCost: '499.9975',
    });
    expect(key.status?.['usage']).not.toHaveProperty('remainingTokens');
    const line = (await kubectl(cp, ['get', 'apikey', 'team-search', '-n', NS])).split('\n')[1] ?? '';
    expect(line).toMatch(/True\s+1\s+1200\s+300\s+0\.0025\s+499\.9975/);
    const refreshes = op!.metrics.usageRefreshes;
    await waitFor(() => op!.metrics.usageRefreshes >= refreshes + 3, { what: 'three more usage passes' });
    const after = await getJson<Obj>(cp, ['apikey', 'team-search', '-n', NS]);
    expect(after.metadata.resourceVersion).toBe(key.metadata.resourceVersion);
  });

  it('marks broken references Ready=False with the reason, while the rest stay Ready', async () => {
    await kubectl(
      cp,
      ['apply', '-f', '-'],
      `${modelRoute('lonely-model', '')}  fallbackModels: [no-such-model]
---
apiVersion: tokenhub.io/v1alpha1
kind: ApiKey
metadata: { name: orphan, namespace: ${NS} }
spec:
  credential: { hash: "sha256:${'1'.repeat(64)}" }
  quotaPolicies: [missing-policy]
`,
    );
    const all = await waitFor(
      async () => {
        const objects = await allObjects(cp);
        const broken = objects.filter((o) => ['lonely-model', 'orphan'].includes(o.metadata.name));
        return broken.length === 2 && broken.every((o) => readyOf(o).status === 'False') && objects;
      },
      { what: 'broken objects not Ready' },
    );
    const byName = new Map(all.map((o) => [o.metadata.name, o]));
    expect(readyOf(byName.get('lonely-model')!)).toEqual({ status: 'False', reason: 'FallbackNotFound' });
    expect(readyOf(byName.get('orphan')!)).toEqual({ status: 'False', reason: 'PolicyNotFound' });
    expect(byName.get('orphan')?.status?.conditions?.[0]?.message).toMatch(/missing-policy/);
    expect(all.filter((o) => readyOf(o).status === 'True')).toHaveLength(15);
    await kubectl(cp, ['-n', NS, 'delete', 'modelroute/lonely-model', 'apikey/orphan']);
  });

  it('reads only Secrets labelled tokenhub.io/credential=true: an unlabelled one is not found until it opts in', async () => {
    await kubectl(cp, ['-n', NS, 'create', 'secret', 'generic', 'cluster-token', '--from-literal=token=sk-not-for-tenants']);
    await kubectl(
      cp,
      ['apply', '-f', '-'],
      `apiVersion: tokenhub.io/v1alpha1
kind: ModelRoute
metadata: { name: exfiltrate-2, namespace: ${NS} }
spec:
  model: exfiltrate-2
  capabilities: [text]
  limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200 }
  backends: [{ name: primary, baseURL: "http://127.0.0.1:9/v1", credentialSecretRef: { name: cluster-token, key: token } }]
`,
    );
    const denied = await waitFor(
      async () => {
        const o = await getJson<Obj>(cp, ['modelroute', 'exfiltrate-2', '-n', NS]);
        return readyOf(o).status === 'False' && o;
      },
      { what: 'a route on an unlabelled Secret to be refused' },
    );
    expect(readyOf(denied)).toEqual({ status: 'False', reason: 'SecretNotFound' });
    expect(denied.status?.conditions?.[0]?.message).toMatch(/labelled tokenhub\.io\/credential/);
    await kubectl(cp, ['-n', NS, 'label', 'secret', 'cluster-token', 'tokenhub.io/credential=true']);
    await waitFor(async () => readyOf(await getJson<Obj>(cp, ['modelroute', 'exfiltrate-2', '-n', NS])).status === 'True', { what: 'Ready once labelled' });
    await kubectl(cp, ['-n', NS, 'delete', 'modelroute/exfiltrate-2', 'secret/cluster-token']);
  });

  it('follows generation with observedGeneration after an edit, keeping lastTransitionTime', async () => {
    const before = await getJson<Obj>(cp, ['quotapolicy', 'paid-tier', '-n', NS]);
    await kubectl(cp, ['-n', NS, 'patch', 'quotapolicy', 'paid-tier', '--type=merge', '-p', '{"spec":{"rateLimits":{"rpm":2500}}}']);
    const after = await waitFor(
      async () => {
        const o = await getJson<Obj>(cp, ['quotapolicy', 'paid-tier', '-n', NS]);
        return o.metadata.generation === (before.metadata.generation ?? 0) + 1 && o.status?.observedGeneration === o.metadata.generation && o;
      },
      { what: 'observedGeneration to follow' },
    );
    const cond = after.status?.conditions?.[0];
    expect(cond?.observedGeneration).toBe(after.metadata.generation);
    expect(cond?.lastTransitionTime).toBe(before.status?.conditions?.[0]?.lastTransitionTime);
  });

  it('writes nothing on a reconcile that changes nothing', async () => {
    const rvs = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await allObjects(cp)).map((o) => [o.metadata.name, o.metadata.resourceVersion]));
    const before = await rvs();
    const writes = op!.metrics.statusWrites;
    const reconciles = op!.metrics.reconciles;
    // An unrelated Secret wakes the reconciler (it watches Secrets) without changing any verdict.
    await kubectl(
      cp,
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'unrelated', namespace: NS, labels: { 'tokenhub.io/credential': 'true' } },
        stringData: { x: 'y' },
      }),
    );
    await waitFor(() => op!.metrics.reconciles > reconciles, { what: 'a reconcile' });
    expect(op!.metrics.statusWrites).toBe(writes);
    expect(await rvs()).toEqual(before);
  });

  it("re-reads and retries a status write that conflicts (409), under the operator's rights", async () => {
    const stale = await getJson<Obj>(cp, ['quotapolicy', 'free-tier', '-n', NS]);
    await kubectl(cp, ['-n', NS, 'label', 'quotapolicy', 'free-tier', 'touched=yes']);
    const metrics = new OperatorMetrics();
    const writer = new StatusWriter({ client: op!.client, log: { warn: () => {}, debug: () => {} }, metrics });
    const outcome = await writer.write({
      kind: 'QuotaPolicy',
      live: stale as unknown as KubeObject,
      desired: (o) => ({ conditions: (o['status'] as { conditions: unknown[] }).conditions, keys: 99 }),
    });
    expect(outcome).toBe('written');
    expect(metrics.statusConflicts).toBe(1);
    // The operator (watching) puts it back at once: status follows the verdict, not the last writer.
    await waitFor(async () => (await getJson<Obj>(cp, ['quotapolicy', 'free-tier', '-n', NS])).status?.['keys'] === 2, { what: 'keys restored' });
  });
});
