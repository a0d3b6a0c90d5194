/**
 * The gateway fleet on a real API server: a fleet ConfigMap becomes a Deployment, a Service and a
 * PDB owned by it; policy changes never touch the Deployment; a new image rolls it; an HPA
 * replaces the fixed replica count; a deleted Deployment comes back. (No controller-manager runs:
 * these tests check objects, not pods.)
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { FLEET_NS, type Obj, ROOT, type TestOperator, getJson, kubectl, prepareCluster, readyOf, runOperator, waitFor } from './support.js';

const HASH = 'tokenhub.io/template-hash';

interface Deployment extends Obj {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { serviceAccountName: string; containers: Container[]; securityContext: Record<string, unknown> };
    };
  };
}
interface Container {
  image: string;
  command: string[];
  args: string[];
  env: { name: string; value?: string }[];
  securityContext: Record<string, unknown>;
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
}

function fleetConfigMap(fleetYaml: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'tokenhub-gateway', namespace: FLEET_NS },
    data: { 'fleet.yaml': fleetYaml },
  });
}

const BASE = `image: tokenhub:0.1.0
replicas: 3
namespaces: [tokenhub, team-a]
redis: { url: "redis://redis.tokenhub.svc:6379", failureMode: fail-closed }
otel: { endpoint: "http://otel-collector:4317" }
podLabels: { app.kubernetes.io/name: tokenhub, team: platform }
`;

describe('gateway fleet', () => {
  let cp: ControlPlane;
  let op: TestOperator;
  const logLines: string[] = [];
  const deployment = (): Promise<Deployment> => getJson<Deployment>(cp, ['deployment', 'tokenhub-gateway', '-n', FLEET_NS]);

  beforeAll(async () => {
    cp = await startControlPlane();
    const kubeconfig = await prepareCluster(cp);
    // The operator's log lines, to see that the fleet controller has read a config (not only that nothing changed).
    const logger = { level: 'info', stream: new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString()), done()) }) };
    op = await runOperator(kubeconfig, { fleetNamespace: FLEET_NS, logger });
    await waitFor(() => op.ready() && op.isLeader(), { what: 'operator ready and leading' });
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('creates the Deployment, Service and PDB, owned by the fleet ConfigMap', async () => {
    await kubectl(cp, ['apply', '-f', '-'], fleetConfigMap(BASE));
    const cm = await getJson<Obj>(cp, ['configmap', 'tokenhub-gateway', '-n', FLEET_NS]);
    const d = await waitFor(() => deployment(), { what: 'the Deployment' });
    const svc = await waitFor(() => getJson<Obj & { spec: { selector: Record<string, string> } }>(cp, ['service', 'tokenhub-gateway', '-n', FLEET_NS]), {
      what: 'the Service',
    });
    const pdb = await waitFor(() => getJson<Obj>(cp, ['pdb', 'tokenhub-gateway', '-n', FLEET_NS]), { what: 'the PDB' });
    for (const o of [d, svc, pdb]) {
      expect(o.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'ConfigMap', name: 'tokenhub-gateway', uid: cm.metadata.uid, controller: true }),
      ]);
      expect((o.metadata as { labels?: Record<string, string> }).labels).toMatchObject({
        'app.kubernetes.io/name': 'tokenhub-gateway',
        'app.kubernetes.io/managed-by': 'tokenhub-operator',
      });
    }
    expect(d.metadata.annotations?.[HASH]).toMatch(/^[0-9a-f]{16}$/);
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.metadata.labels).toMatchObject({ ...d.spec.selector.matchLabels, 'app.kubernetes.io/name': 'tokenhub', team: 'platform' });
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(pdb.spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: d.spec.selector.matchLabels } });
    expect((await cp.kubectl(['get', 'hpa', 'tokenhub-gateway', '-n', FLEET_NS])).code).not.toBe(0);
  });

  it('runs `tokenhub gateway --kubernetes` with the fleet settings, restricted', async () => {
    const pod = (await deployment()).spec.template.spec;
    const c = pod.containers[0]!;
    expect(pod.serviceAccountName).toBe('tokenhub-gateway');
    expect([...c.command, ...c.args].join(' ')).toBe(
      'tokenhub gateway --kubernetes --port 8080 --log-level info --namespace tokenhub,team-a --metrics-port 9464',
    );
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? 'from-field']));
    expect(env).toMatchObject({
      TOKENHUB_REDIS_URL: 'redis://redis.tokenhub.svc:6379',
      TOKENHUB_REDIS_FAILURE_MODE: 'fail-closed',
      TOKENHUB_REPLICAS: '3',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4317',
      POD_NAMESPACE: 'from-field',
    });
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('never touches the Deployment for policy changes', async () => {
    const before = await deployment();
    await kubectl(cp, ['apply', '-R', '-f', join(ROOT, 'examples/policies')]);
    await kubectl(cp, ['-n', FLEET_NS, 'patch', 'quotapolicy', 'paid-tier', '--type=merge', '-p', '{"spec":{"rateLimits":{"rpm":10}}}']);
    await waitFor(
      async () => {
        const p = await getJson<Obj>(cp, ['quotapolicy', 'paid-tier', '-n', FLEET_NS]);
        return readyOf(p).status === 'True' && p.status?.observedGeneration === p.metadata.generation;
      },
      { what: 'the policy reconciled' },
    );
    const after = await deployment();
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('rolls the Deployment when the image changes, and only then', async () => {
    const before = await deployment();
    const writes = op.metrics.fleetWrites;
    await kubectl(cp, ['apply', '-f', '-'], fleetConfigMap(BASE.replace('tokenhub:0.1.0', 'tokenhub:0.2.0')));
    const after = await waitFor(
      async () => {
        const d = await deployment();
        return d.spec.template.spec.containers[0]?.image === 'tokenhub:0.2.0' && d;
      },
      { what: 'the new image' },
    );
    expect(after.metadata.generation).toBe((before.metadata.generation ?? 0) + 1);
    expect(after.metadata.annotations?.[HASH]).not.toBe(before.metadata.annotations?.[HASH]);
    // The Service and the PDB did not change, so only the Deployment was written.
    expect(op.metrics.fleetWrites).toBe(writes + 1);
  });

  it('hands the replica count to an HPA, and deletes the PDB when it is switched off', async () => {
    const yaml = `${BASE}autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 6 }\npodDisruptionBudget: { enabled: false }\n`;
    await kubectl(cp, ['apply', '-f', '-'], fleetConfigMap(yaml));
    const hpa = await waitFor(() => getJson<Obj>(cp, ['hpa', 'tokenhub-gateway', '-n', FLEET_NS]), { what: 'the HPA' });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6, scaleTargetRef: { kind: 'Deployment', name: 'tokenhub-gateway' } });
    await waitFor(async () => (await cp.kubectl(['get', 'pdb', 'tokenhub-gateway', '-n', FLEET_NS])).code !== 0, { what: 'the PDB gone' });
    const d = await waitFor(
      async () => {
        const x = await getJson<Deployment>(cp, ['deployment', 'tokenhub-gateway', '-n', FLEET_NS, '--show-managed-fields']);
        return x.spec.template.spec.containers[0]?.env.some((e) => e.name === 'TOKENHUB_REPLICAS' && e.value === '6') && x;
      },
      { what: 'the fleet size for the Redis fallback share' },
    );
    const managers = (d.metadata as { managedFields?: { manager: string; fieldsV1?: { 'f:spec'?: Record<string, unknown> } }[] }).managedFields ?? [];
    expect(managers.find((m) => m.manager === 'tokenhub-operator')?.fieldsV1?.['f:spec']).not.toHaveProperty('f:replicas');
  });

  it('restores a deleted Deployment, and leaves the fleet as it is when fleet.yaml is invalid', async () => {
    await kubectl(cp, ['-n', FLEET_NS, 'delete', 'deployment', 'tokenhub-gateway']);
    const back = await waitFor(() => deployment(), { what: 'the Deployment back' });
    const errors = op.metrics.fleetErrors;
    await kubectl(cp, ['apply', '-f', '-'], fleetConfigMap('replicas: many\n'));
    // Regression: this used to sleep 500 ms and pass even when the controller never saw the change.
    await waitFor(() => logLines.some((l) => l.includes('/replicas must be integer') && l.includes('the fleet is left as it is')), {
      what: 'the fleet controller to reject fleet.yaml',
    });
    expect((await deployment()).metadata.resourceVersion).toBe(back.metadata.resourceVersion);
    expect(op.metrics.fleetErrors).toBe(errors);
  });
});
