/** The informer and the REST client's watch against a real kube-apiserver + etcd. */
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../src/kube/client.js';
import { ClusterState } from '../../src/kube/cluster-state.js';
import { Informer } from '../../src/kube/informer.js';
import { corePath } from '../../src/kube/resources.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/gateway.js';
import { bindRules, canI, kubectlOk } from '../support/kube.js';

const NS = 'informer';
const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined };

let cp: ControlPlane;
let client: KubeClient;
const informers: Informer[] = [];

function configMaps(opts: { pageSize?: number; labelSelector?: string } = {}): Informer {
  const informer = new Informer({ client, path: corePath(NS, 'configmaps'), log: silent, onChange: () => undefined, ...opts });
  informers.push(informer);
  informer.start();
  return informer;
}

const dataOf = (i: Informer, name: string): Record<string, string> | undefined =>
  i.list().find((o: KubeObject) => o.metadata.name === name)?.['data'] as Record<string, string> | undefined;

beforeAll(async () => {
  cp = await startControlPlane();
  client = await KubeClient.load(cp.kubeconfigPath);
  await kubectlOk(cp, ['create', 'namespace', NS]);
});

afterAll(async () => {
  for (const i of informers) i.stop();
  await client?.close();
  await cp?.stop();
});

describe('Informer', () => {
  it('lists every page, not just the first (regression: a list stopped at its first page)', async () => {
    for (let n = 0; n < 7; n++) await kubectlOk(cp, ['-n', NS, 'create', 'configmap', `page-${n}`, '--from-literal=n=' + n]);
    await kubectlOk(cp, ['-n', NS, 'label', 'configmap', '--all', 'paged=yes']);
    const informer = configMaps({ pageSize: 3, labelSelector: 'paged=yes' });
    await eventually(() => informer.synced, 10_000);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `page-${n}`));
    // …and then watches from the list's resourceVersion.
    await kubectlOk(cp, ['-n', NS, 'create', 'configmap', 'page-7']);
    await kubectlOk(cp, ['-n', NS, 'label', 'configmap', 'page-7', 'paged=yes']);
    await eventually(() => informer.list().length === 8, 5_000);
  });

  it('keeps multi-byte text intact when a watch event spans stream chunks (regression: per-chunk decoding)', async () => {
    const informer = configMaps({ labelSelector: 'text=wide' });
    await eventually(() => informer.synced, 10_000);
    // ~300 KB of 3- and 4-byte characters: the event arrives in many chunks, split mid-character.
    const text = '模型路由🚀'.repeat(20_000);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'wide', namespace: NS, labels: { text: 'wide' } }, data: { text } };
    await kubectlOk(cp, ['create', '-f', '-'], JSON.stringify(cm));
    await eventually(() => dataOf(informer, 'wide') !== undefined, 5_000);
    expect(dataOf(informer, 'wide')?.['text'] === text).toBe(true);
  });
});

describe('Informer backoff', () => {
  it('backs off when every watch is refused though lists succeed (regression: a relist and watch every 250 ms for ever)', async () => {
    // An identity that may list configmaps but not watch them.
    const kubeconfig = await bindRules({
      cp,
      namespace: NS,
      serviceAccount: 'list-only',
      clusterWide: false,
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    });
    const listOnly = await KubeClient.load(kubeconfig);
    let failures = 0;
    const log = { ...silent, warn: () => void failures++ };
    await eventually(async () => (await canI(cp, kubeconfig, ['list', 'configmaps', '-n', NS])) === true, 10_000);
    const informer = new Informer({ client: listOnly, path: corePath(NS, 'configmaps'), log, onChange: () => undefined });
    informer.start();
    try {
      await new Promise((r) => setTimeout(r, 4000));
      // Doubling pauses from 250 ms: about 4 refusals in 4 s; without the backoff, about 16.
      expect(failures).toBeGreaterThanOrEqual(2);
      expect(failures).toBeLessThanOrEqual(6);
    } finally {
      informer.stop();
      await listOnly.close();
    }
  });
});

describe('ClusterState', () => {
  it('holds only Secrets labelled tokenhub.io/credential=true: no other Secret reaches its memory (issue #11)', async () => {
    const ns = 'consent';
    // The state also watches the three kinds: their CRDs must be served for it to sync.
    await kubectlOk(cp, ['apply', '-f', join(import.meta.dirname, '../../crds')]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
    await kubectlOk(cp, ['create', 'namespace', ns]);
    await kubectlOk(cp, ['-n', ns, 'create', 'secret', 'generic', 'tls-key', '--from-literal=key=PRIVATE']);
    await kubectlOk(cp, ['-n', ns, 'create', 'secret', 'generic', 'upstream', '--from-literal=token=sk-upstream']);
    await kubectlOk(cp, ['-n', ns, 'label', 'secret', 'upstream', 'tokenhub.io/credential=true']);
    const state = new ClusterState({ client, namespaces: [ns], log: pino({ level: 'silent' }), onChange: () => undefined });
    state.start();
    try {
      await eventually(() => state.synced, 10_000);
      expect(state.secretList().map((s) => s.metadata.name)).toEqual(['upstream']);
      // A label removed is a Secret withdrawn; a label added is one offered.
      await kubectlOk(cp, ['-n', ns, 'label', 'secret', 'upstream', 'tokenhub.io/credential-']);
      await kubectlOk(cp, ['-n', ns, 'label', 'secret', 'tls-key', 'tokenhub.io/credential=true']);
      await eventually(
        () =>
          state
            .secretList()
            .map((s) => s.metadata.name)
            .join() === 'tls-key',
        5_000,
      );
      expect(JSON.stringify(state.compileInput().secrets)).not.toContain('sk-upstream');
    } finally {
      state.stop();
    }
  });
});
