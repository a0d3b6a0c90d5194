/**
 * charts/tokenhub as `helm lint` and `helm template` see it, for the value sets a platform team
 * uses: what is rendered, under which security context, with exactly the RBAC rules of
 * files/rbac/, and which values the schema refuses. (chart-cluster.test.ts applies the same
 * renders to a real API server.)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHART, KUBE_VERSION, ROOT, find, helm, helmBinary, idOf, loadRules, render, templateArgs, valueArgs, type K8sObject } from './helm.js';
import { VALUE_SETS } from './value-sets.js';
import { POD_OVERRIDE_DEFAULTS } from '../../src/operator/fleet/pod-overrides.js';

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  ports?: { name: string; containerPort: number }[];
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
}

function podSpec(o: K8sObject): PodSpec {
  return (o['spec'] as { template: { spec: PodSpec } }).template.spec;
}

function container(o: K8sObject, name: string): Container {
  const c = podSpec(o).containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`${idOf(o)} has no container ${name}`);
  return c;
}

/** fleet.yaml of the ConfigMap the operator reads. */
function fleet(objects: readonly K8sObject[]): Record<string, unknown> {
  const cm = find(objects, 'ConfigMap', 'tokenhub-gateway', 'tokenhub');
  return parse((cm['data'] as Record<string, string>)['fleet.yaml'] ?? '') as Record<string, unknown>;
}

function rulesOf(o: K8sObject): unknown {
  return o['rules'];
}

beforeAll(async () => {
  await helmBinary();
}, 600_000);

describe('helm lint', () => {
  it.each(Object.entries(VALUE_SETS))('passes with --strict for value set "%s"', async (_name, opts) => {
    const res = await helm(['lint', CHART, '--strict', '--namespace', 'tokenhub', '--kube-version', KUBE_VERSION, ...valueArgs(opts)]);
    expect(res.stderr + res.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(res.code).toBe(0);
  });
});

describe('default values', () => {
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = await render();
  });

  it('renders the operator, both identities and their RBAC, the fleet ConfigMap and NetworkPolicies, and no gateway Deployment', () => {
    expect(objects.map(idOf).sort()).toEqual([
      // For people (README "Security model"), not for TokenHub's pods: nothing cluster-wide is bound.
      'ClusterRole -/tokenhub-admin',
      'ClusterRole -/tokenhub-key-editor',
      'ClusterRole -/tokenhub-view',
      'ConfigMap tokenhub/tokenhub-gateway',
      'Deployment tokenhub/tokenhub-operator',
      'NetworkPolicy tokenhub/tokenhub-gateway',
      'NetworkPolicy tokenhub/tokenhub-operator',
      // The `helm test` hook (templates/tests/).
      'Pod tokenhub/tokenhub-test',
      'Role tokenhub/tokenhub-gateway',
      'Role tokenhub/tokenhub-operator',
      'Role tokenhub/tokenhub-operator-fleet',
      'RoleBinding tokenhub/tokenhub-gateway',
      'RoleBinding tokenhub/tokenhub-operator',
      'RoleBinding tokenhub/tokenhub-operator-fleet',
      'Service tokenhub/tokenhub-operator-metrics',
      'ServiceAccount tokenhub/tokenhub-gateway',
      'ServiceAccount tokenhub/tokenhub-operator',
    ]);
  });

  it('runs the operator per its contract: two replicas, the fleet ConfigMap, health probes on 8081', () => {
    const dep = find(objects, 'Deployment', 'tokenhub-operator');
    expect((dep['spec'] as { replicas: number }).replicas).toBe(2);
    expect(podSpec(dep).serviceAccountName).toBe('tokenhub-operator');
    const c = container(dep, 'operator');
    expect(c.image).toBe('tokenhub:0.1.0');
    expect(c.args).toEqual([
      'operator',
      '--fleet-config=tokenhub-gateway',
      '--health-port=8081',
      '--lease-name=tokenhub-operator',
      '--log-level=info',
      // By default TokenHub serves the release namespace only, and publishes models from it only.
      '--namespace=tokenhub',
      '--platform-namespace=tokenhub',
    ]);
    expect(c.ports).toEqual([
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9465, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.env?.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    // Without Redis or a collector configured, nothing points the operator at one.
    expect(c.env?.map((e) => e.name)).toEqual(['POD_NAMESPACE', 'POD_NAME', 'TOKENHUB_METRICS_PORT']);
  });

  it('binds exactly the rules of files/rbac/ (the rules the test suite runs components under)', () => {
    expect(rulesOf(find(objects, 'Role', 'tokenhub-operator', 'tokenhub'))).toEqual(loadRules('operator.yaml'));
    expect(rulesOf(find(objects, 'Role', 'tokenhub-gateway', 'tokenhub'))).toEqual(loadRules('gateway.yaml'));
    expect(rulesOf(find(objects, 'Role', 'tokenhub-operator-fleet', 'tokenhub'))).toEqual(loadRules('operator-fleet.yaml'));
    for (const [kind, name, sa] of [
      ['RoleBinding', 'tokenhub-operator', 'tokenhub-operator'],
      ['RoleBinding', 'tokenhub-gateway', 'tokenhub-gateway'],
      ['RoleBinding', 'tokenhub-operator-fleet', 'tokenhub-operator'],
    ] as const) {
      const b = find(objects, kind, name);
      expect(b['roleRef'], name).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: kind.replace('Binding', ''), name });
      expect(b['subjects'], name).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: 'tokenhub' }]);
    }
  });

  it('writes the fleet ConfigMap in the shape the operator reads', () => {
    expect(fleet(objects)).toEqual({
      image: 'tokenhub:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      replicas: 2,
      port: 8080,
      metricsPort: 9464,
      namespaces: ['tokenhub'],
      platformNamespaces: ['tokenhub'],
      serviceAccountName: 'tokenhub-gateway',
      resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      redis: { url: '', failureMode: 'fail-open' },
      otel: { endpoint: '' },
      logLevel: 'info',
      podDisruptionBudget: { enabled: true, minAvailable: 1 },
      autoscaling: { enabled: false, minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70, behavior: {} },
      service: { type: 'ClusterIP', port: 80, annotations: {} },
      podAnnotations: {},
      // The labels the gateway NetworkPolicy selects the operator-made pods by.
      podLabels: { 'app.kubernetes.io/name': 'tokenhub', 'app.kubernetes.io/instance': 'tokenhub', 'app.kubernetes.io/component': 'gateway' },
      nodeSelector: {},
      tolerations: [],
      affinity: {},
      // The pod-template knobs at the values the operator treats as no-ops.
      ...POD_OVERRIDE_DEFAULTS,
    });
  });

  it('lets ingress reach only the gateway API and metrics ports and the operator health and metrics ports; egress is open', () => {
    const gw = find(objects, 'NetworkPolicy', 'tokenhub-gateway')['spec'] as Record<string, unknown>;
    expect(gw['podSelector']).toEqual({ matchLabels: fleet(objects)['podLabels'] });
    expect(gw['policyTypes']).toEqual(['Ingress']);
    expect(gw['ingress']).toEqual([{ ports: [{ protocol: 'TCP', port: 8080 }] }, { ports: [{ protocol: 'TCP', port: 9464 }] }]);
    const op = find(objects, 'NetworkPolicy', 'tokenhub-operator')['spec'] as Record<string, unknown>;
    expect(op['ingress']).toEqual([{ ports: [{ protocol: 'TCP', port: 8081 }] }, { ports: [{ protocol: 'TCP', port: 9465 }] }]);
  });
});

describe('value sets', () => {
  it.each(Object.entries(VALUE_SETS))('"%s": every container runs under the restricted Pod Security Standard', async (_name, opts) => {
    const deployments = (await render(opts)).filter((o) => o.kind === 'Deployment');
    expect(deployments.length).toBeGreaterThan(0);
    for (const dep of deployments) {
      const pod = podSpec(dep);
      expect(pod.securityContext, idOf(dep)).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod.containers) {
        expect(c.securityContext, `${idOf(dep)} ${c.name}`).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
      }
    }
  });

  it('redis.enabled: a redis:7-alpine Deployment and Service, wired into the fleet and the operator', async () => {
    const objects = await render(VALUE_SETS.redis);
    const url = 'redis://tokenhub-redis.tokenhub.svc:6379';
    expect(container(find(objects, 'Deployment', 'tokenhub-redis'), 'redis').image).toBe('redis:7-alpine');
    expect((find(objects, 'Service', 'tokenhub-redis')['spec'] as { ports: unknown[] }).ports).toEqual([
      { name: 'redis', port: 6379, targetPort: 'redis', protocol: 'TCP' },
    ]);
    // The password is in a Secret the chart generates; the ConfigMap names the Secret, never the value.
    const passwordSecret = { name: 'tokenhub-redis', key: 'password' };
    expect(fleet(objects)['redis']).toEqual({ url, failureMode: 'fail-open', passwordSecret });
    const secret = find(objects, 'Secret', 'tokenhub-redis', 'tokenhub') as K8sObject & { data: Record<string, string> };
    expect(Buffer.from(secret.data['password'] ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
    const env = container(find(objects, 'Deployment', 'tokenhub-operator'), 'operator').env;
    expect(env).toContainEqual({ name: 'TOKENHUB_REDIS_URL', value: url });
    expect(env).toContainEqual({ name: 'TOKENHUB_REDIS_PASSWORD', valueFrom: { secretKeyRef: passwordSecret } });
    // Redis itself requires the password; protected mode is no longer switched off.
    const redis = container(find(objects, 'Deployment', 'tokenhub-redis'), 'redis');
    expect(redis.args).toEqual(expect.arrayContaining(['--requirepass', '$(REDIS_PASSWORD)']));
    expect(redis.args).not.toContain('--protected-mode');
    expect(redis.env).toContainEqual({ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: passwordSecret } });
    // Only the gateways and the operator may talk to it.
    const np = find(objects, 'NetworkPolicy', 'tokenhub-redis')['spec'] as { ingress: { from: unknown[] }[] };
    expect(np.ingress[0]?.from).toHaveLength(2);
  });

  it('redis.url: an external Redis with fail-closed, and no in-chart Redis', async () => {
    const objects = await render(VALUE_SETS.externalRedis);
    expect(objects.filter((o) => o.metadata.name === 'tokenhub-redis')).toEqual([]);
    expect(fleet(objects)['redis']).toEqual({
      url: 'rediss://redis.example.internal:6380/0',
      failureMode: 'fail-closed',
      passwordSecret: { name: 'external-redis', key: 'password' },
    });
    expect(fleet(objects)['otel']).toEqual({ endpoint: 'http://otel-collector.observability:4318' });
    const env = container(find(objects, 'Deployment', 'tokenhub-operator'), 'operator').env;
    expect(env).toContainEqual({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability:4318' });
  });

  it('redis.auth.existingSecret: the in-chart Redis and every client take the password from it; no Secret is generated', async () => {
    const objects = await render(VALUE_SETS.redisExistingSecret);
    const ref = { secretKeyRef: { name: 'redis-auth', key: 'pw' } };
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(fleet(objects)['redis']).toMatchObject({ passwordSecret: { name: 'redis-auth', key: 'pw' } });
    expect(container(find(objects, 'Deployment', 'tokenhub-redis'), 'redis').env).toContainEqual({ name: 'REDIS_PASSWORD', valueFrom: ref });
    expect(container(find(objects, 'Deployment', 'tokenhub-operator'), 'operator').env).toContainEqual({ name: 'TOKENHUB_REDIS_PASSWORD', valueFrom: ref });
  });

  it('gateway.autoscaling: handed to the operator in fleet.yaml', async () => {
    expect(fleet(await render(VALUE_SETS.autoscaling))['autoscaling']).toEqual({
      enabled: true,
      minReplicas: 3,
      maxReplicas: 20,
      targetCPUUtilizationPercentage: 60,
      behavior: {},
    });
  });

  it('serviceMonitor: rendered only where the cluster serves monitoring.coreos.com/v1 ServiceMonitor', async () => {
    const withoutCrd = await render({ set: VALUE_SETS.serviceMonitor.set ?? [] });
    expect(withoutCrd.filter((o) => o.kind === 'ServiceMonitor')).toEqual([]);
    const sm = find(await render(VALUE_SETS.serviceMonitor), 'ServiceMonitor', 'tokenhub-gateway', 'tokenhub');
    expect(sm.metadata.labels?.['release']).toBe('prometheus');
    expect(sm['spec']).toEqual({
      namespaceSelector: { matchNames: ['tokenhub'] },
      // The labels the operator puts on the gateway Service (src/operator/fleet/render.ts).
      selector: { matchLabels: { 'app.kubernetes.io/name': 'tokenhub-gateway', 'app.kubernetes.io/managed-by': 'tokenhub-operator' } },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }],
    });
  });

  it('watchNamespaces: Roles in exactly those namespaces, nothing cluster-wide', async () => {
    const objects = await render(VALUE_SETS.watchNamespaces);
    // Only the ClusterRoles for people (tenantRoles), bound by nobody.
    expect(
      objects
        .filter((o) => o.kind.startsWith('Cluster'))
        .map(idOf)
        .sort(),
    ).toEqual(['ClusterRole -/tokenhub-admin', 'ClusterRole -/tokenhub-key-editor', 'ClusterRole -/tokenhub-view']);
    for (const ns of ['team-a', 'team-b']) {
      expect(rulesOf(find(objects, 'Role', 'tokenhub-operator', ns))).toEqual(loadRules('operator.yaml'));
      expect(rulesOf(find(objects, 'Role', 'tokenhub-gateway', ns))).toEqual(loadRules('gateway.yaml'));
      expect(find(objects, 'RoleBinding', 'tokenhub-gateway', ns)['subjects']).toEqual([
        { kind: 'ServiceAccount', name: 'tokenhub-gateway', namespace: 'tokenhub' },
      ]);
    }
    // The fleet stays in the release namespace, whatever is watched.
    expect(rulesOf(find(objects, 'Role', 'tokenhub-operator-fleet', 'tokenhub'))).toEqual(loadRules('operator-fleet.yaml'));
    const args = container(find(objects, 'Deployment', 'tokenhub-operator'), 'operator').args;
    expect(args).toEqual(expect.arrayContaining(['--namespace=team-a', '--namespace=team-b', '--platform-namespace=team-a']));
    expect(fleet(objects)['namespaces']).toEqual(['team-a', 'team-b']);
    expect(fleet(objects)['platformNamespaces']).toEqual(['team-a']);
  });

  it('watchAllNamespaces: ClusterRoles for the operator and the gateways, an explicit choice', async () => {
    const objects = await render(VALUE_SETS.watchAllNamespaces);
    expect(rulesOf(find(objects, 'ClusterRole', 'tokenhub-operator'))).toEqual(loadRules('operator.yaml'));
    expect(rulesOf(find(objects, 'ClusterRole', 'tokenhub-gateway'))).toEqual(loadRules('gateway.yaml'));
    expect(find(objects, 'ClusterRoleBinding', 'tokenhub-gateway')['subjects']).toEqual([
      { kind: 'ServiceAccount', name: 'tokenhub-gateway', namespace: 'tokenhub' },
    ]);
    expect(fleet(objects)['namespaces']).toEqual([]);
    expect(fleet(objects)['platformNamespaces']).toEqual(['tokenhub']);
  });

  it('tenantRoles: view (aggregated everywhere), key-editor (ApiKeys only, into edit and admin), admin (not aggregated)', async () => {
    const objects = await render();
    const labels = (name: string): Record<string, string> => find(objects, 'ClusterRole', name).metadata.labels ?? {};
    const aggregated = (name: string): string[] =>
      Object.entries(labels(name))
        .filter(([k, v]) => k.startsWith('rbac.authorization.k8s.io/aggregate-to-') && v === 'true')
        .map(([k]) => k.split('-to-')[1] ?? '')
        .sort();
    expect(aggregated('tokenhub-view')).toEqual(['admin', 'edit', 'view']);
    expect(aggregated('tokenhub-key-editor')).toEqual(['admin', 'edit']);
    expect(aggregated('tokenhub-admin')).toEqual([]);
    const writes = (name: string): string[] =>
      (rulesOf(find(objects, 'ClusterRole', name)) as { resources: string[]; verbs: string[] }[])
        .filter((r) => r.verbs.includes('create'))
        .flatMap((r) => r.resources)
        .sort();
    expect(writes('tokenhub-view')).toEqual([]);
    expect(writes('tokenhub-key-editor')).toEqual(['apikeys']);
    expect(writes('tokenhub-admin')).toEqual(['apikeys', 'modelroutes', 'quotapolicies']);
    expect((await render({ set: ['tenantRoles.enabled=false'] })).filter((o) => o.kind === 'ClusterRole')).toEqual([]);
  });

  it('networkPolicy.egress.restrict: DNS, the API server, the in-chart Redis and the extra rules only', async () => {
    const objects = await render(VALUE_SETS.restrictedEgress);
    for (const name of ['tokenhub-gateway', 'tokenhub-operator']) {
      const spec = find(objects, 'NetworkPolicy', name)['spec'] as { policyTypes: string[]; egress: { to: unknown[]; ports?: unknown[] }[] };
      expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(spec.egress.map((r) => r.to)).toEqual([
        [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        [{ ipBlock: { cidr: '10.96.0.1/32' } }],
        [
          {
            podSelector: {
              matchLabels: { 'app.kubernetes.io/name': 'tokenhub', 'app.kubernetes.io/instance': 'tokenhub', 'app.kubernetes.io/component': 'redis' },
            },
          },
        ],
        [{ ipBlock: { cidr: '203.0.113.0/24' } }],
      ]);
    }
  });
});

describe("values.schema.json and the chart refuse wrong values at install, with helm's error", () => {
  async function refused(...set: string[]): Promise<string> {
    const res = await helm(templateArgs({ set }));
    expect(res.code, res.stdout).not.toBe(0);
    return res.stderr;
  }

  it.each([
    [['gateway.replicas=0'], "at '/gateway/replicas': minimum: got 0, want 1"],
    [['redis.failureMode=maybe'], "at '/redis/failureMode': value must be one of 'fail-open', 'fail-closed'"],
    [['replicaCount=3'], "additional properties 'replicaCount' not allowed"],
    [['gateway.service.type=Ingress'], "at '/gateway/service/type'"],
    [['gateway.port=70000'], "at '/gateway/port'"],
    [['redis.url=localhost:6379'], "at '/redis/url'"],
    [['operator.replicas=two'], "at '/operator/replicas'"],
  ])('schema: --set %s', async (set, message) => {
    const stderr = await refused(...set);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(message);
  });

  it.each([
    [['operator.leaderElection.enabled=false'], 'operator.replicas > 1 needs operator.leaderElection.enabled'],
    [['gateway.autoscaling.enabled=true', 'gateway.autoscaling.minReplicas=5', 'gateway.autoscaling.maxReplicas=3'], 'minReplicas must not exceed'],
    [['redis.enabled=true', 'redis.url=redis://elsewhere:6379'], 'set either redis.enabled'],
    [['watchNamespaces={team-a}'], 'platformNamespaces: tokenhub is not watched'],
    [['networkPolicy.egress.restrict=true'], 'needs networkPolicy.egress.apiServerCIDRs'],
  ])('cross-field rule: --set %s', async (set, message) => {
    expect(await refused(...set)).toContain(message);
  });

  it('one operator without leader election is fine', async () => {
    const objects = await render({ set: ['operator.replicas=1', 'operator.leaderElection.enabled=false'] });
    expect(container(find(objects, 'Deployment', 'tokenhub-operator'), 'operator').args).toContain('--leader-elect=false');
  });
});

describe('charts/tokenhub/crds/', () => {
  it('is a byte-for-byte copy of crds/ (cp crds/*.yaml charts/tokenhub/crds/ when this fails)', () => {
    const repo = readdirSync(join(ROOT, 'crds')).sort();
    const chart = readdirSync(join(CHART, 'crds')).sort();
    expect(chart).toEqual(repo);
    for (const f of repo) {
      expect(readFileSync(join(CHART, 'crds', f), 'utf8'), f).toBe(readFileSync(join(ROOT, 'crds', f), 'utf8'));
    }
  });

  it('is what --include-crds renders', async () => {
    const crds = (await render({ includeCrds: true })).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((o) => o.metadata.name).sort()).toEqual(['apikeys.tokenhub.io', 'modelroutes.tokenhub.io', 'quotapolicies.tokenhub.io']);
  });
});
