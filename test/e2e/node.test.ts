/**
 * End to end on real pods: the chart installed on the single-node cluster of hack/node/up.sh
 * (kubelet + containerd + kube-proxy, images built here from the Dockerfile), driven with the
 * official OpenAI SDK through the gateway Service's ClusterIP. The scenarios run in order on one
 * installation and print their figures.
 *
 * What this node cannot show: NetworkPolicy enforcement (the bridge CNI does not implement it),
 * multi-node scheduling and anti-affinity, LoadBalancer/Ingress, pulls from a registry
 * (imagePullPolicy Never), and node failure (the node is the machine).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyYaml, policyYaml } from '../support/gateway.js';
import { startLoad } from '../support/traffic.js';
import { CHART } from '../chart/helm.js';
import {
  DEMO_KEY,
  MODEL,
  NAMESPACE,
  clusterIP,
  helmOn,
  k,
  kubectl,
  latencySummary,
  nodeDown,
  nodeUp,
  pods,
  poll,
  readyPods,
  startStreams,
  startTimedLoad,
  type Node,
} from './node.js';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { run } from '../../src/devtools/control-plane-process.js';
import { join } from 'node:path';
import { ROOT } from '../chart/helm.js';

const RELEASE = 'tokenhub';
const GATEWAY = 'tokenhub-gateway';
const GATEWAY_PODS = 'tokenhub.io/fleet=tokenhub-gateway';
const OPERATOR_PODS = 'app.kubernetes.io/component=operator';
const figure = (line: string): boolean => process.stdout.write(`[e2e figure] ${line}\n`);
/** A key whose policy never limits the loads below (the demo key's free tier allows 60 rpm). */
const LOAD_KEY = 'th-e2e-load-key-00000000000000000000';
const LOAD_OBJECTS =
  policyYaml('e2e-load', '{rateLimits: {rpm: 1000000, tpm: 100000000}}') + keyYaml({ name: 'e2e-load', clear: LOAD_KEY, policies: ['e2e-load'] });

let node: Node;
let baseURL: string;

function imageSet(ref: string): { repository: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repository: ref.slice(0, i), tag: ref.slice(i + 1) };
}

function installArgs(verb: 'install' | 'upgrade', extra: string[] = []): string[] {
  const app = imageSet(node.images['tokenhub'] ?? '');
  const redis = imageSet(node.images['redis'] ?? '');
  return [
    verb,
    RELEASE,
    CHART,
    '--namespace',
    NAMESPACE,
    '--set',
    `image.repository=${app.repository}`,
    '--set',
    `image.tag=${app.tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'redis.enabled=true',
    '--set',
    `redis.image.repository=${redis.repository}`,
    '--set',
    `redis.image.tag=${redis.tag}`,
    '--set',
    'redis.image.pullPolicy=Never',
    ...extra,
  ];
}

function client(apiKey: string, url = baseURL): OpenAI {
  return new OpenAI({ baseURL: url, apiKey, maxRetries: 0, timeout: 30_000 });
}

async function chatStatus(c: OpenAI): Promise<number> {
  return c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }).then(
    () => 200,
    (err: { status?: number }) => err.status ?? 0,
  );
}

beforeAll(async () => {
  node = await nodeUp();
}, 60 * 60_000);

afterAll(async () => {
  await nodeDown();
}, 300_000);

describe('TokenHub on a real node', () => {
  it('helm install: operator (2 replicas, one leader) and gateway pods Ready, a completion through the Service', async () => {
    await kubectl(node, ['create', 'namespace', NAMESPACE]);
    const t0 = Date.now();
    const res = await helmOn(node, installArgs('install'));
    expect(res.code, res.stderr).toBe(0);
    const mock = readFileSync(join(ROOT, 'hack/e2e/mock-upstream.yaml'), 'utf8')
      .replace(/image: tokenhub:.*/, `image: ${node.images['tokenhub']}`)
      .replace('imagePullPolicy: IfNotPresent', 'imagePullPolicy: Never');
    await k(node, ['apply', '-f', '-'], mock);
    await k(node, ['apply', '-R', '-f', join(ROOT, 'examples/models'), '-f', join(ROOT, 'examples/policies'), '-f', join(ROOT, 'examples/keys')]);
    await k(node, ['-n', NAMESPACE, 'apply', '-f', '-'], LOAD_OBJECTS);

    const operators = await readyPods(node, OPERATOR_PODS, 2);
    const holder = await poll('the operator Lease to have a holder', async () => {
      const h = (await k(node, ['-n', NAMESPACE, 'get', 'lease', 'tokenhub-operator', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
      return h === '' ? undefined : h;
    });
    expect(operators.map((p) => p.name)).toContain(holder);
    const gateways = await readyPods(node, GATEWAY_PODS, 2);
    baseURL = `http://${await clusterIP(node, GATEWAY)}/api/v1`;
    const sdk = client(DEMO_KEY);
    await poll('a 200 through the gateway Service', async () => ((await chatStatus(sdk)) === 200 ? true : undefined), 240_000, 250);
    const seconds = (Date.now() - t0) / 1000;
    const r = await sdk.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 });
    expect(r.model).toBe(MODEL);
    expect(r.choices[0]?.message.content).not.toBe('');
    figure(
      `install → first 200 through the gateway Service: ${seconds.toFixed(1)} s ` +
        `(operators ${operators.map((p) => p.name).join(', ')}; leader ${holder}; gateways ${gateways.map((p) => p.ip).join(', ')})`,
    );
  }, 900_000);

  it('a QuotaPolicy change under load is enforced by every gateway pod', async () => {
    const clear = 'th-e2e-quota-key-000000000000000000';
    await k(
      node,
      ['-n', NAMESPACE, 'apply', '-f', '-'],
      policyYaml('e2e-quota', '{rateLimits: {rpm: 100000}}') + keyYaml({ name: 'e2e-quota', clear, policies: ['e2e-quota'] }),
    );
    const gateways = await readyPods(node, GATEWAY_PODS, 2);
    const direct = gateways.map((p) => ({ pod: p.name, c: client(clear, `http://${p.ip}:8080/api/v1`) }));
    for (const d of direct) {
      await poll(`${d.pod} to know the new key`, async () => ((await chatStatus(d.c)) === 200 ? true : undefined), 60_000, 250);
    }
    const load = startTimedLoad({ client: client(LOAD_KEY), model: MODEL, workers: 4, maxMs: 120_000 });
    const t0 = Date.now();
    await k(node, ['-n', NAMESPACE, 'apply', '-f', '-'], policyYaml('e2e-quota', '{rateLimits: {rpm: 1}}'));
    const seen = await Promise.all(
      direct.map(async (d) => {
        await poll(`${d.pod} to enforce rpm 1`, async () => ((await chatStatus(d.c)) === 429 ? true : undefined), 60_000, 100);
        return { pod: d.pod, ms: Date.now() - t0 };
      }),
    );
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    for (const s of seen) figure(`QuotaPolicy rpm 100000 → 1 enforced by ${s.pod} after ${s.ms} ms`);
    figure(`load during the change: ${result.ok} requests, 0 failed, ${latencySummary(result.latencies)}`);
  }, 300_000);

  it('a fleet change rolls the gateway Deployment under load and long streams: zero failed requests, no stream cut', async () => {
    const before = (await readyPods(node, GATEWAY_PODS, 2)).map((p) => p.name);
    const mock = `http://${await clusterIP(node, 'tokenhub-mock-upstream')}:8081`;
    // Streams of ~6 s (24 chunks, 250 ms apart), so several are in flight when each pod goes.
    const slow = await fetch(`${mock}/__mock/behaviour/*`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chunkDelayMs: 250, completionTokens: 24 }),
    });
    expect(slow.ok).toBe(true);
    const load = startTimedLoad({ client: client(LOAD_KEY), model: MODEL, workers: 4, maxMs: 300_000 });
    const streams = startStreams({ client: client(LOAD_KEY), model: MODEL, workers: 3, maxMs: 300_000 });
    const t0 = Date.now();
    const res = await helmOn(node, installArgs('upgrade', ['--set', 'gateway.logLevel=debug']));
    expect(res.code, res.stderr).toBe(0);
    const after = await poll(
      'a rolled gateway fleet',
      async () => {
        const ps = await pods(node, GATEWAY_PODS);
        const fresh = ps.filter((p) => !before.includes(p.name));
        return ps.length === 2 && fresh.length === 2 && fresh.every((p) => p.ready) ? fresh : undefined;
      },
      300_000,
    );
    const seconds = (Date.now() - t0) / 1000;
    const [result, streamed] = [await load.stop(), await streams.stop()];
    await fetch(`${mock}/__mock/behaviour`, { method: 'DELETE' });
    figure(
      `rollout ${before.join(',')} → ${after.map((p) => p.name).join(',')} in ${seconds.toFixed(1)} s: ` +
        `${result.ok} requests ok (${latencySummary(result.latencies)}), ${result.failures.length} failed${result.failures.length ? ` (${[...new Set(result.failures)].join('; ')})` : ''}; ` +
        `${streamed.complete} streams complete, ${streamed.cut.length} cut${streamed.cut.length ? ` (${[...new Set(streamed.cut)].join('; ')})` : ''}`,
    );
    expect(result.failures).toEqual([]);
    expect(streamed.cut).toEqual([]);
    expect(streamed.complete).toBeGreaterThan(0);
  }, 600_000);

  it('a gateway pod deleted under load with Redis on: usage in Redis equals the upstream count', async () => {
    const usageClear = 'th-e2e-usage-key-0000000000000000000';
    await k(node, ['-n', NAMESPACE, 'apply', '-f', '-'], keyYaml({ name: 'e2e-usage', clear: usageClear, policies: ['e2e-load'] }));
    const sdk = client(usageClear);
    await poll('the gateways to know e2e-usage', async () => ((await chatStatus(sdk)) === 200 ? true : undefined), 60_000, 250);
    const mock = `http://${await clusterIP(node, 'tokenhub-mock-upstream')}:8081`;
    const redisUrl = `redis://${await clusterIP(node, 'tokenhub-redis')}:6379`;
    // The in-chart Redis requires a password (README "Security model"): the chart keeps it in a Secret.
    const secret = JSON.parse(await k(node, ['-n', NAMESPACE, 'get', 'secret', `${RELEASE}-redis`, '-o', 'json'])) as { data: { password: string } };
    const env = { ...process.env, TOKENHUB_REDIS_PASSWORD: Buffer.from(secret.data.password, 'base64').toString() };
    const usage = async (): Promise<{ requests: number; inputTokens: number; outputTokens: number }> => {
      const res = await run(process.execPath, [join(ROOT, 'bin/tokenhub.js'), 'usage', '--redis', redisUrl, '--key', `${NAMESPACE}/e2e-usage`, '--json'], {
        timeoutMs: 30_000,
        env,
      });
      expect(res.code, `tokenhub usage: ${res.stderr}`).toBe(0);
      const rows = (JSON.parse(res.stdout) as { rows: { requests: number; inputTokens: number; outputTokens: number }[] }).rows;
      return rows.reduce(
        (a, r) => ({ requests: a.requests + r.requests, inputTokens: a.inputTokens + r.inputTokens, outputTokens: a.outputTokens + r.outputTokens }),
        { requests: 0, inputTokens: 0, outputTokens: 0 },
      );
    };
    const before = await usage();
    expect((await fetch(`${mock}/__mock/behaviour`, { method: 'DELETE' })).ok).toBe(true);
    const victim = (await readyPods(node, GATEWAY_PODS, 2))[0]!;
    const load = startLoad({ client: sdk, model: MODEL, workers: 4, maxMs: 120_000 });
    await poll('some load', async () => (load.ok() >= 20 ? true : undefined), 60_000, 100);
    await k(node, ['-n', NAMESPACE, 'delete', 'pod', victim.name, '--wait=false']);
    await readyPods(node, GATEWAY_PODS, 2);
    const start = load.ok();
    await poll('load on the replacement fleet', async () => (load.ok() >= start + 20 ? true : undefined), 60_000, 100);
    const result = await load.stop();
    const upstream = (await (await fetch(`${mock}/__mock/stats`)).json()) as { requests: number; usage: { promptTokens: number; completionTokens: number } };
    const counted = await poll(
      'usage in Redis to settle',
      async () => {
        const u = await usage();
        return u.requests - before.requests === upstream.requests ? u : undefined;
      },
      30_000,
      500,
    ).catch(usage); // never equal: the assertion below shows the difference
    figure(
      `gateway pod ${victim.name} deleted under load: ${result.ok} ok, ${result.failures.length} failed; ` +
        `upstream saw ${upstream.requests} requests, Redis counted ${counted.requests - before.requests}`,
    );
    expect({
      requests: counted.requests - before.requests,
      inputTokens: counted.inputTokens - before.inputTokens,
      outputTokens: counted.outputTokens - before.outputTokens,
    }).toEqual({ requests: upstream.requests, inputTokens: upstream.usage.promptTokens, outputTokens: upstream.usage.completionTokens });
  }, 300_000);

  it('the leader operator pod deleted: the other takes over within the lease', async () => {
    const holder = (await k(node, ['-n', NAMESPACE, 'get', 'lease', 'tokenhub-operator', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    const t0 = Date.now();
    await k(node, ['-n', NAMESPACE, 'delete', 'pod', holder, '--wait=false']);
    const next = await poll(
      'a new Lease holder',
      async () => {
        const h = (await k(node, ['-n', NAMESPACE, 'get', 'lease', 'tokenhub-operator', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
        return h !== '' && h !== holder ? h : undefined;
      },
      120_000,
      250,
    );
    const seconds = (Date.now() - t0) / 1000;
    // Statuses keep flowing: a new ApiKey becomes Ready under the new leader.
    await k(node, ['-n', NAMESPACE, 'apply', '-f', '-'], keyYaml({ name: 'e2e-after-failover', clear: 'th-e2e-after-failover-0000000000000' }));
    await k(node, ['-n', NAMESPACE, 'wait', '--for=condition=Ready', 'apikey/e2e-after-failover', '--timeout=120s']);
    figure(`leader ${holder} deleted → ${next} holds the Lease after ${seconds.toFixed(1)} s; a new ApiKey got Ready`);
  }, 300_000);

  it('helm upgrade carrying a CRD change, by the documented path (CRDs applied first)', async () => {
    // A chart copy whose QuotaPolicy CRD gains a printer column: the shape of a real CRD change.
    const chart = mkdtempSync(join(tmpdir(), 'tokenhub-chart-'));
    cpSync(CHART, chart, { recursive: true });
    const crdFile = join(chart, 'crds/tokenhub.io_quotapolicies.yaml');
    const crd = readFileSync(crdFile, 'utf8');
    expect(crd).toContain('additionalPrinterColumns:\n');
    writeFileSync(
      crdFile,
      crd.replace(
        'additionalPrinterColumns:\n',
        'additionalPrinterColumns:\n        - name: E2E\n          type: string\n          jsonPath: .metadata.name\n',
      ),
    );
    const t0 = Date.now();
    await k(node, ['apply', '--server-side', '--force-conflicts', '-f', join(chart, 'crds')]);
    const res = await helmOn(
      node,
      installArgs('upgrade', ['--set', 'gateway.logLevel=debug']).map((a) => (a === CHART ? chart : a)),
    );
    expect(res.code, res.stderr).toBe(0);
    const columns = await k(node, ['get', 'crd', 'quotapolicies.tokenhub.io', '-o', 'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}']);
    expect(columns.split(' ')).toContain('E2E');
    expect(await k(node, ['-n', NAMESPACE, 'get', 'quotapolicies', 'free-tier'])).toContain('E2E');
    await readyPods(node, OPERATOR_PODS, 2);
    await poll('a 200 after the upgrade', async () => ((await chatStatus(client(LOAD_KEY))) === 200 ? true : undefined), 120_000, 250);
    rmSync(chart, { recursive: true, force: true });
    figure(`CRD change applied (kubectl apply --server-side) + helm upgrade: serving again ${((Date.now() - t0) / 1000).toFixed(1)} s later`);
  }, 300_000);

  it('helm uninstall removes the release and the fleet it made, keeps the CRDs and custom resources', async () => {
    const res = await helmOn(node, ['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait']);
    expect(res.code, res.stderr).toBe(0);
    await poll('operator pods gone', async () => ((await pods(node, OPERATOR_PODS)).length === 0 ? true : undefined));
    // The operator's gateway Deployment and Service belong to the fleet ConfigMap: garbage-collected with it.
    await poll('gateway fleet gone', async () => {
      const left = (await k(node, ['-n', NAMESPACE, 'get', 'deployment,service', '-l', 'app.kubernetes.io/managed-by=tokenhub-operator', '-o', 'name'])).trim();
      return left === '' && (await pods(node, GATEWAY_PODS)).length === 0 ? true : undefined;
    });
    const crds = await k(node, ['get', 'crd', '-o', 'name']);
    for (const c of ['apikeys', 'modelroutes', 'quotapolicies']) expect(crds).toContain(`${c}.tokenhub.io`);
    expect(await k(node, ['-n', NAMESPACE, 'get', 'apikey', 'demo', '-o', 'name'])).toContain('demo');
    expect(await k(node, ['-n', NAMESPACE, 'get', 'secret', 'team-search-key', '-o', 'name'])).toContain('team-search-key');
    figure('helm uninstall: operator, RBAC and gateway fleet gone; CRDs, ApiKeys and generated key Secrets kept');
  }, 300_000);
});
