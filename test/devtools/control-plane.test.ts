import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { impersonatingKubeconfig, serviceAccountIdentity, startControlPlane, type ControlPlane } from '../support/control-plane.js';

const NS = 'tokenhub-cp-test';

/** Runs kubectl and fails the test with its stderr if it exits non-zero. */
async function ok(cp: ControlPlane, args: string[]): Promise<string> {
  const res = await cp.kubectl(args);
  expect(res.code, `kubectl ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout.trim();
}

describe('local control plane (etcd + kube-apiserver)', () => {
  let cp: ControlPlane;

  // The first run on a machine may build Kubernetes from source (see hack/controlplane/build.sh).
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 1_200_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('serves the default namespace to the admin kubeconfig', async () => {
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await ok(cp, ['get', 'ns', 'default', '-o', 'name'])).toBe('namespace/default');
  });

  it('keeps objects across an API-server restart', async () => {
    await ok(cp, ['create', 'namespace', NS]);
    await ok(cp, ['-n', NS, 'create', 'configmap', 'survivor', '--from-literal=k=v']);
    await cp.restartApiServer();
    expect(await ok(cp, ['get', 'ns', NS, '-o', 'name'])).toBe(`namespace/${NS}`);
    expect(await ok(cp, ['-n', NS, 'get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}'])).toBe('v');
  });

  it('compacts etcd so older revisions are gone', async () => {
    await ok(cp, ['-n', NS, 'create', 'configmap', 'before-compaction']);
    const oldRv = Number(await ok(cp, ['-n', NS, 'get', 'configmap', 'before-compaction', '-o', 'jsonpath={.metadata.resourceVersion}']));
    await ok(cp, ['-n', NS, 'create', 'configmap', 'after-compaction']);
    const compactedAt = await cp.compactEtcd();
    expect(compactedAt).toBeGreaterThan(oldRv);

    // Reading etcd at the old revision must now fail with "compacted".
    const res = await fetch(`${cp.etcdEndpoint}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('/').toString('base64'), revision: String(oldRv) }),
    });
    expect(await res.text()).toMatch(/compacted/);
  });

  it('gives an impersonated ServiceAccount exactly its RBAC rights', async () => {
    const kubeconfig = await impersonatingKubeconfig(cp, serviceAccountIdentity(NS, 'nobody'));
    const whoami = await cp.kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig });
    expect(whoami.code, whoami.stderr).toBe(0);
    expect(whoami.stdout).toContain(`system:serviceaccount:${NS}:nobody`);

    const denied = await cp.kubectl(['-n', NS, 'get', 'configmaps'], { kubeconfig });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Forbidden/);
    expect(denied.stderr).toContain(`system:serviceaccount:${NS}:nobody`);

    await ok(cp, ['-n', NS, 'create', 'role', 'cm-reader', '--verb=get,list', '--resource=configmaps']);
    await ok(cp, ['-n', NS, 'create', 'rolebinding', 'nobody-reads', '--role=cm-reader', `--serviceaccount=${NS}:nobody`]);
    const allowed = await cp.kubectl(['-n', NS, 'get', 'configmaps', '-o', 'name'], { kubeconfig });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('configmap/survivor');
    // Namespaced rights only: other namespaces stay forbidden.
    expect((await cp.kubectl(['-n', 'default', 'get', 'configmaps'], { kubeconfig })).code).not.toBe(0);
  });
});

describe('local control plane without watch cache', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
  }, 1_200_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('answers a watch from a compacted resourceVersion with 410 Gone', async () => {
    await ok(cp, ['create', 'namespace', NS]);
    await ok(cp, ['-n', NS, 'create', 'configmap', 'old']);
    const oldRv = await ok(cp, ['-n', NS, 'get', 'configmap', 'old', '-o', 'jsonpath={.metadata.resourceVersion}']);
    // Two more writes, so the watch's first needed revision (oldRv + 1) is below the compaction point.
    await ok(cp, ['-n', NS, 'create', 'configmap', 'new1']);
    await ok(cp, ['-n', NS, 'create', 'configmap', 'new2']);
    await cp.compactEtcd();
    const watch = await ok(cp, ['get', '--raw', `/api/v1/namespaces/${NS}/configmaps?watch=1&resourceVersion=${oldRv}&timeoutSeconds=1`]);
    expect(watch).toContain('"code":410');
  });
});
