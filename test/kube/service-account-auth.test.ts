/**
 * ServiceAccount tokens as Bearers, on a real kube-apiserver: an ApiKey binds a ServiceAccount
 * (`spec.credential.serviceAccount`), a token the API server minted for it (TokenRequest, via
 * `kubectl create token --audience tokenhub`) calls `gateway --kubernetes` (a process, under the
 * chart's gateway RBAC) through the official SDK. Wrong audience, another namespace's or an
 * unbound ServiceAccount, a forged or tampered token: 401. Expiry is checked against the
 * token's own `exp` with the API server's real signing keys, and verifying costs no API call.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { JwksTokenVerifier } from '../../src/gateway/service-account-tokens.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { keyYaml, modelYaml } from '../support/gateway.js';
import { type GatewayProcess, ensureBuilt, startGatewayProcess } from '../support/gateway-process.js';
import { applyYaml, bindRules, kubectlOk } from '../support/kube.js';
import { outcome } from '../support/traffic.js';

const NS = 'sa-auth';
const OTHER_NS = 'sa-other';
const RULES = new URL('../../charts/tokenhub/files/rbac/gateway.yaml', import.meta.url).pathname;
const CRDS = new URL('../../crds/', import.meta.url).pathname;
const API_KEY = 'th-sa-test-plain-key';

let mock: MockUpstream;
let dir: string;
let cp: ControlPlane;
let gw: GatewayProcess;

const saKeyYaml = (name: string, sa: string): string =>
  `---\napiVersion: tokenhub.io/v1alpha1\nkind: ApiKey\nmetadata: {name: ${name}}\nspec:\n  owner: ${name}\n  credential: {serviceAccount: {name: ${sa}}}\n  allowedModels: [chat]\n`;

/** A token the API server signs (TokenRequest). */
async function mint(sa: string, opts: { namespace?: string; audience?: string } = {}): Promise<string> {
  const out = await kubectlOk(cp, ['-n', opts.namespace ?? NS, 'create', 'token', sa, '--audience', opts.audience ?? 'tokenhub', '--duration', '10m']);
  return out.trim();
}

const chat = (bearer: string) => () =>
  new OpenAI({ baseURL: gw.baseURL, apiKey: bearer, maxRetries: 0, timeout: 10_000 }).chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 8,
  });

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-sa-auth-'));
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  cp = await startControlPlane();
  await kubectlOk(cp, ['apply', '-f', CRDS]);
  await kubectlOk(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
  const kubeconfig = await bindRules({ cp, namespace: NS, serviceAccount: 'gateway', rulesFile: RULES, clusterWide: true });
  await kubectlOk(cp, ['create', 'namespace', OTHER_NS]);
  for (const [ns, sa] of [
    [NS, 'app'],
    [NS, 'stranger'],
    [OTHER_NS, 'app'],
  ] as const)
    await kubectlOk(cp, ['-n', ns, 'create', 'serviceaccount', sa]);
  await applyYaml(
    cp,
    NS,
    (modelYaml({ name: 'chat' }) + saKeyYaml('app-workload', 'app') + keyYaml({ name: 'plain', clear: API_KEY })).replaceAll('${MOCK}', mock.url),
  );
  gw = await startGatewayProcess({ args: ['--kubernetes', '--namespace', NS, '--kubeconfig', kubeconfig], logFile: join(dir, 'gateway.log') });
}, 180_000);

afterAll(async () => {
  await gw?.stop();
  await cp?.stop();
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a pod authenticates with its ServiceAccount token', () => {
  it('a token minted for the bound ServiceAccount (audience tokenhub) calls the gateway as that ApiKey', async () => {
    const token = await mint('app');
    const res = await chat(token)();
    expect(res.model).toBe('chat');
    const me = await fetch(`${gw.baseURL}/key`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { data: Record<string, unknown> }).data).toMatchObject({
      id: `${NS}/app-workload`,
      owner: 'app-workload',
      allowed_models: ['chat'],
    });
    expect(await outcome(chat(API_KEY))).toBe('ok');
  });

  it('refuses a token for another audience, an unbound ServiceAccount, or the same name in another namespace', async () => {
    expect(await outcome(chat(await mint('app', { audience: 'other-service' })))).toBe('401 invalid_api_key');
    expect(await outcome(chat(await mint('stranger')))).toBe('401 invalid_api_key');
    expect(await outcome(chat(await mint('app', { namespace: OTHER_NS })))).toBe('401 invalid_api_key');
  });

  it('refuses a tampered token (claims changed, signature kept) and a self-signed one', async () => {
    const [h, p, s] = (await mint('stranger')).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: `system:serviceaccount:${NS}:app` })).toString('base64url');
    expect(await outcome(chat(`${h}.${forged}.${s}`))).toBe('401 invalid_api_key');
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: (JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid?: string }).kid })).toString(
      'base64url',
    );
    expect(await outcome(chat(`${none}.${forged}.x`))).toBe('401 invalid_api_key');
  });

  it('takes effect when the ApiKey is disabled or removed (the binding is config, hot-reloaded)', async () => {
    const token = await mint('app');
    await applyYaml(cp, NS, saKeyYaml('app-workload', 'app').replace('allowedModels: [chat]', 'allowedModels: [chat]\n  disabled: true'));
    await expect.poll(() => outcome(chat(token)), { timeout: 10_000, interval: 100 }).toBe('401 api_key_disabled');
    await kubectlOk(cp, ['-n', NS, 'delete', 'apikey', 'app-workload']);
    await expect.poll(() => outcome(chat(token)), { timeout: 10_000, interval: 100 }).toBe('401 invalid_api_key');
  });
});

describe('verification against the API server’s own keys', () => {
  it('honours exp, checks the audience, and makes no API call per token', async () => {
    const client = await KubeClient.load(cp.kubeconfigPath);
    const verifier = new JwksTokenVerifier({ fetchJson: (path) => client.request('GET', path, { accept: 'application/json, application/jwk-set+json' }) });
    try {
      await verifier.start();
      expect(verifier.loads).toBe(1);
      const token = await mint('app');
      const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }).exp * 1000;
      const now = Date.now();
      expect(verifier.verify(token, now)).toEqual({ ok: true, namespace: NS, name: 'app', expiresAt: exp });
      for (let i = 0; i < 100; i++) expect(verifier.verify(token, now).ok).toBe(true);
      // A cached verdict ends with the token: one millisecond before exp it passes, at exp it does not.
      expect(verifier.verify(token, exp - 1).ok).toBe(true);
      expect(verifier.verify(token, exp)).toEqual({ ok: false, reason: 'expired' });
      // The same token again, now uncached, is refused on its own exp claim.
      expect(verifier.verify(token, exp + 1000)).toEqual({ ok: false, reason: 'expired' });
      expect(verifier.verify(await mint('app', { audience: 'other' }), now)).toEqual({ ok: false, reason: 'audience' });
      expect(verifier.loads).toBe(1);
    } finally {
      verifier.stop();
      await client.close();
    }
  });
});
