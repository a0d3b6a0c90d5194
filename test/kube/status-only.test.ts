/**
 * Issue #13: a status-only update (the operator's conditions, its 30 s usage write-back) must not
 * make the gateway recompile. The informer the gateway uses says "changed" only when what compile
 * reads changed; the cache still takes the new status. Against a real kube-apiserver + etcd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../src/kube/client.js';
import { Informer, sameButStatus } from '../../src/kube/informer.js';
import { tokenhubPath } from '../../src/kube/resources.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { eventually, keyYaml } from '../support/gateway.js';
import { applyYaml, kubectlOk } from '../support/kube.js';

const NS = 'status-only';
const CRDS = new URL('../../crds/', import.meta.url).pathname;
const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined };

const key = (over: Partial<KubeObject['metadata']> = {}, status?: unknown, spec: unknown = { credential: { hash: 'x' } }): KubeObject => ({
  apiVersion: 'tokenhub.io/v1alpha1',
  kind: 'ApiKey',
  metadata: { name: 'k', namespace: 'n', generation: 1, resourceVersion: '1', ...over },
  spec,
  ...(status === undefined ? {} : { status }),
});

describe('sameButStatus', () => {
  it('ignores status, resourceVersion and managedFields', () => {
    const a = key({}, { usage: 1 });
    const b = {
      ...key({ resourceVersion: '2' }, { usage: 2, conditions: [] }),
      metadata: { ...key({ resourceVersion: '2' }).metadata, managedFields: [{ manager: 'op' }] },
    };
    expect(sameButStatus(a, b)).toBe(true);
  });

  it('sees a spec, a generation, a label or an annotation change', () => {
    expect(sameButStatus(key(), key({}, undefined, { credential: { hash: 'y' } }))).toBe(false);
    expect(sameButStatus(key(), key({ generation: 2 }))).toBe(false);
    expect(sameButStatus(key(), key({ labels: { a: 'b' } }))).toBe(false);
    expect(sameButStatus(key(), key({ annotations: { a: 'b' } }))).toBe(false);
  });

  it('sees a Secret whose data changed (no generation there)', () => {
    const secret = (v: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', resourceVersion: v }, data: { k: v } });
    expect(sameButStatus(secret('1'), secret('2'))).toBe(false);
  });
});

describe('Informer with ignoreStatusOnly against a real API server', () => {
  let cp: ControlPlane;
  let client: KubeClient;
  let informer: Informer | undefined;

  beforeAll(async () => {
    cp = await startControlPlane();
    client = await KubeClient.load(cp.kubeconfigPath);
    await kubectlOk(cp, ['apply', '-f', CRDS]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
    await kubectlOk(cp, ['create', 'namespace', NS]);
    await applyYaml(cp, NS, keyYaml({ name: 'watched', clear: 'th-status-only-key' }));
  });

  afterAll(async () => {
    informer?.stop();
    await client?.close();
    await cp?.stop();
  });

  it('does not signal a status-only update (regression: every event recompiled), and does signal a spec change', async () => {
    let changes = 0;
    const i = new Informer({ client, path: tokenhubPath('ApiKey', { namespace: NS }), log: silent, onChange: () => void changes++, ignoreStatusOnly: true });
    informer = i;
    i.start();
    await eventually(() => i.synced, 10_000);
    expect(changes).toBe(1); // the first sync
    const usage = (): unknown => (i.list()[0]?.['status'] as { usage?: unknown } | undefined)?.usage;
    for (const n of [1, 2, 3]) {
      const patch = JSON.stringify({ status: { usage: { requests: n } } });
      await kubectlOk(cp, ['-n', NS, 'patch', 'apikey', 'watched', '--subresource=status', '--type=merge', '-p', patch]);
      await eventually(() => JSON.stringify(usage()) === JSON.stringify({ requests: n }), 5_000);
    }
    expect(changes).toBe(1);
    await kubectlOk(cp, ['-n', NS, 'patch', 'apikey', 'watched', '--type=merge', '-p', JSON.stringify({ spec: { disabled: true } })]);
    await eventually(() => changes === 2, 5_000);
  });
});
