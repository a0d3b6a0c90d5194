/**
 * Rotating a generated key on a real API server: the operator (under its chart RBAC) generates
 * the key Secret; `kubectl annotate apikey … tokenhub.io/rotate=…` makes it write a new key and
 * keep the old one until the grace period ends; status shows both fingerprints and the deadline.
 * A `gateway --kubernetes` process (under its chart RBAC) accepts both keys during the window
 * and only the new one after it: clients switch with no failed request.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, keyFingerprint } from '../../src/keys/hash.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { modelYaml } from '../support/gateway.js';
import { type GatewayProcess, ensureBuilt, startGatewayProcess } from '../support/gateway-process.js';
import { applyYaml, bindRules, kubectlOk } from '../support/kube.js';
import { outcome } from '../support/traffic.js';
import { type TestOperator, prepareCluster, runOperator } from '../operator/support.js';

const NS = 'rotation';
const GRACE_S = 15;
const RULES = new URL('../../charts/tokenhub/files/rbac/gateway.yaml', import.meta.url).pathname;

let mock: MockUpstream;
let dir: string;
let cp: ControlPlane;
let op: TestOperator;
let gw: GatewayProcess;

const chat = (key: string) => () =>
  new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0, timeout: 10_000 }).chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 8,
  });

async function secretData(): Promise<Record<string, string>> {
  const res = await cp.kubectl(['-n', NS, 'get', 'secret', 'team-key', '-o', 'json']);
  if (res.code !== 0) return {};
  const data = (JSON.parse(res.stdout) as { data?: Record<string, string> }).data ?? {};
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

async function status(): Promise<Record<string, unknown>> {
  return (JSON.parse(await kubectlOk(cp, ['-n', NS, 'get', 'apikey', 'team', '-o', 'json'])) as { status?: Record<string, unknown> }).status ?? {};
}

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-rotation-'));
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  cp = await startControlPlane();
  const operatorKubeconfig = await prepareCluster(cp);
  await kubectlOk(cp, ['create', 'namespace', NS]);
  const gatewayKubeconfig = await bindRules({ cp, namespace: NS, serviceAccount: 'gateway', rulesFile: RULES, clusterWide: true });
  const key = `---\napiVersion: tokenhub.io/v1alpha1\nkind: ApiKey\nmetadata:\n  name: team\n  annotations: {tokenhub.io/rotation-grace: "${GRACE_S}s"}\nspec:\n  credential: {generate: {}}\n`;
  await applyYaml(cp, NS, (modelYaml({ name: 'chat' }) + key).replaceAll('${MOCK}', mock.url));
  op = await runOperator(operatorKubeconfig);
  gw = await startGatewayProcess({ args: ['--kubernetes', '--namespace', NS, '--kubeconfig', gatewayKubeconfig], logFile: join(dir, 'gateway.log') });
}, 180_000);

afterAll(async () => {
  await gw?.stop();
  await op?.stop();
  await cp?.stop();
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tokenhub.io/rotate on a generated key', () => {
  it('rotates with a window where both keys work, then only the new one', async () => {
    await expect.poll(async () => (await secretData())['api-key'], { timeout: 20_000, interval: 100 }).toMatch(/^th-/);
    const old = (await secretData())['api-key'] as string;
    await expect.poll(() => outcome(chat(old)), { timeout: 20_000, interval: 100 }).toBe('ok');

    const asked = Date.now();
    await kubectlOk(cp, ['-n', NS, 'annotate', 'apikey', 'team', 'tokenhub.io/rotate=first']);
    await expect.poll(async () => (await secretData())['rotation'], { timeout: 20_000, interval: 100 }).toBe('first');
    const data = await secretData();
    const fresh = data['api-key'] as string;
    expect(fresh).toMatch(/^th-/);
    expect(fresh).not.toBe(old);
    expect(data['previous-api-key']).toBe(old);
    const deadline = Date.parse(data['previous-not-after'] ?? '');
    expect(deadline).toBeGreaterThanOrEqual(asked + GRACE_S * 1000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + GRACE_S * 1000);

    // The gateway takes the new key on; the old one still works meanwhile.
    await expect.poll(() => outcome(chat(fresh)), { timeout: 10_000, interval: 100 }).toBe('ok');
    expect(Date.now()).toBeLessThan(deadline);
    expect(await outcome(chat(old))).toBe('ok');
    await expect.poll(status, { timeout: 10_000, interval: 200 }).toMatchObject({
      keyPrefix: keyFingerprint(hashKey(fresh)),
      previousKeyPrefix: keyFingerprint(hashKey(old)),
      rotationDeadline: new Date(deadline).toISOString(),
    });

    // After the deadline: the old key is refused, the new one goes on.
    await expect.poll(() => outcome(chat(old)), { timeout: (GRACE_S + 10) * 1000, interval: 250 }).toMatch(/^401 (api_key_expired|invalid_api_key)$/);
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    expect(await outcome(chat(fresh))).toBe('ok');
    // With no event to say so, the operator reconciles at the deadline: the old key leaves the Secret and status.
    await expect.poll(async () => Object.keys(await secretData()).sort(), { timeout: 15_000, interval: 200 }).toEqual(['api-key', 'rotation']);
    await expect.poll(async () => (await status())['previousKeyPrefix'], { timeout: 15_000, interval: 200 }).toBeUndefined();
    expect(await status()).toMatchObject({ keyPrefix: keyFingerprint(hashKey(fresh)) });
    expect((await status())['rotationDeadline']).toBeUndefined();
  }, 120_000);
});
