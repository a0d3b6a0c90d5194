/**
 * The gateway fleet as Kubernetes objects, from the fleet settings alone: a Deployment, a
 * Service and, when enabled, a PodDisruptionBudget and a HorizontalPodAutoscaler. Pure. Policy
 * objects (ModelRoutes, ApiKeys, QuotaPolicies) are not an input on purpose: the gateways
 * hot-reload them, so a policy change can never roll the pods.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../kube/client.js';
import type { FleetConfig } from './config.js';
import { hpaBehavior, shapePodTemplate } from './pod-overrides.js';

export const GATEWAY_NAME = 'tokenhub-gateway';
export const TEMPLATE_HASH_ANNOTATION = 'tokenhub.io/template-hash';
export const MANAGED_BY = 'tokenhub-operator';
export const FLEET_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': GATEWAY_NAME,
  'app.kubernetes.io/managed-by': MANAGED_BY,
};
/**
 * Immutable once the Deployment exists: never change it. A label of our own, so that podLabels
 * may set the app.kubernetes.io/* labels (the chart's NetworkPolicy selects pods by those).
 */
const SELECTOR: Readonly<Record<string, string>> = { 'tokenhub.io/fleet': GATEWAY_NAME };

export const FLEET_KINDS = ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler'] as const;
export type FleetKind = (typeof FLEET_KINDS)[number];

/** Each kind's desired object, or undefined where it must not exist (a disabled PDB or HPA). */
export type FleetObjects = Readonly<Record<FleetKind, KubeObject | undefined>>;

export interface RenderInput {
  readonly config: FleetConfig;
  readonly namespace: string;
  /** The fleet ConfigMap: every object is owned by it (deleted with it). */
  readonly owner: { readonly name: string; readonly uid: string };
}

/** A short content hash of JSON with sorted keys (equal objects, equal hashes). */
export function contentHash(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(sorted(value)))
    .digest('hex')
    .slice(0, 16);
}

export function renderFleet(input: RenderInput): FleetObjects {
  const { config } = input;
  return {
    Deployment: renderDeployment(input),
    Service: withHash(
      object(
        input,
        { apiVersion: 'v1', kind: 'Service', annotations: config.service.annotations },
        {
          type: config.service.type,
          selector: SELECTOR,
          ports: [
            { name: 'http', port: config.service.port, targetPort: 'http', protocol: 'TCP' },
            // Named `metrics` so a ServiceMonitor (the chart's) can select it.
            ...(config.metricsPort > 0 ? [{ name: 'metrics', port: config.metricsPort, targetPort: 'metrics', protocol: 'TCP' }] : []),
          ],
        },
      ),
    ),
    PodDisruptionBudget: config.podDisruptionBudget.enabled
      ? withHash(
          object(
            input,
            { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
            {
              minAvailable: config.podDisruptionBudget.minAvailable,
              selector: { matchLabels: SELECTOR },
            },
          ),
        )
      : undefined,
    HorizontalPodAutoscaler: config.autoscaling.enabled ? withHash(renderHpa(input)) : undefined,
  };
}

function object(input: RenderInput, head: { apiVersion: string; kind: string; annotations?: Record<string, string> }, spec: unknown): KubeObject {
  return {
    apiVersion: head.apiVersion,
    kind: head.kind,
    metadata: {
      name: GATEWAY_NAME,
      namespace: input.namespace,
      labels: { ...FLEET_LABELS },
      annotations: { ...head.annotations },
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: input.owner.name, uid: input.owner.uid, controller: true }],
    },
    spec,
  };
}

/**
 * The hash covers everything rendered except the Deployment's replica count (compared on its
 * own, and absent under an HPA), so a write is needed exactly when the hash differs.
 */
function withHash(o: KubeObject): KubeObject {
  const spec = { ...(o['spec'] as Record<string, unknown>) };
  delete spec['replicas'];
  const hash = contentHash({ metadata: o.metadata, spec });
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, [TEMPLATE_HASH_ANNOTATION]: hash } } };
}

function renderDeployment(input: RenderInput): KubeObject {
  const { config } = input;
  const spec = {
    // Under an HPA the replica count is the autoscaler's: not setting it keeps us from fighting.
    ...(config.autoscaling.enabled ? {} : { replicas: config.replicas }),
    revisionHistoryLimit: 5,
    selector: { matchLabels: SELECTOR },
    // Zero downtime: a new pod is ready before an old one goes (and old pods drain their streams).
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: shapePodTemplate(renderPodTemplate(config), config),
  };
  return withHash(object(input, { apiVersion: 'apps/v1', kind: 'Deployment' }, spec));
}

function renderPodTemplate(config: FleetConfig): Record<string, unknown> {
  const optional = (key: string, value: object): Record<string, unknown> => (Object.keys(value).length === 0 ? {} : { [key]: value });
  return {
    metadata: { labels: { ...FLEET_LABELS, ...config.podLabels, ...SELECTOR }, ...optional('annotations', config.podAnnotations) },
    spec: {
      serviceAccountName: config.serviceAccountName,
      // Streams may run for minutes; the gateway stops accepting and drains on SIGTERM.
      terminationGracePeriodSeconds: 60,
      // The image's own numeric user (Dockerfile), so runAsNonRoot can verify it.
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [renderContainer(config)],
      // The root filesystem is read-only; Node and its libraries may still want a scratch dir.
      volumes: [{ name: 'tmp', emptyDir: {} }],
      ...optional('nodeSelector', config.nodeSelector),
      ...optional('tolerations', config.tolerations),
      ...optional('affinity', config.affinity),
    },
  };
}

function renderContainer(config: FleetConfig): Record<string, unknown> {
  const args = ['gateway', '--kubernetes', '--port', String(config.port), '--log-level', config.logLevel];
  if (config.namespaces.length > 0) args.push('--namespace', config.namespaces.join(','));
  if (config.platformNamespaces.length > 0) args.push('--platform-namespace', config.platformNamespaces.join(','));
  if (config.metricsPort > 0) args.push('--metrics-port', String(config.metricsPort));
  const probe = (path: string, periodSeconds: number): unknown => ({ httpGet: { path, port: 'http' }, periodSeconds, failureThreshold: 3 });
  return {
    name: 'gateway',
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    command: ['tokenhub'],
    args,
    ports: [
      { name: 'http', containerPort: config.port, protocol: 'TCP' },
      ...(config.metricsPort > 0 ? [{ name: 'metrics', containerPort: config.metricsPort, protocol: 'TCP' }] : []),
    ],
    env: renderEnv(config),
    resources: config.resources,
    readinessProbe: probe('/readyz', 5),
    livenessProbe: probe('/healthz', 10),
    securityContext: {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

function renderEnv(config: FleetConfig): { name: string; value?: string; valueFrom?: unknown }[] {
  // Under an HPA the fleet can grow to maxReplicas: each pod's share of a limit when Redis is
  // away is sized for that, so the fleet never exceeds the limit together.
  const replicas = config.autoscaling.enabled ? config.autoscaling.maxReplicas : config.replicas;
  const env: { name: string; value?: string; valueFrom?: unknown }[] = [
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'TOKENHUB_REPLICAS', value: String(replicas) },
    { name: 'TOKENHUB_REDIS_FAILURE_MODE', value: config.redis.failureMode },
  ];
  if (config.redis.url !== '') env.push({ name: 'TOKENHUB_REDIS_URL', value: config.redis.url });
  const secret = config.redis.passwordSecret;
  // The password stays in its Secret: the kubelet resolves it, the Deployment never holds it.
  if (secret !== undefined) env.push({ name: 'TOKENHUB_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } } });
  if (config.otel.endpoint !== '') {
    env.push({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: config.otel.endpoint }, { name: 'OTEL_SERVICE_NAME', value: GATEWAY_NAME });
  }
  return env;
}

function renderHpa(input: RenderInput): KubeObject {
  const a = input.config.autoscaling;
  return object(
    input,
    { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' },
    {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: GATEWAY_NAME },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage } } }],
      ...hpaBehavior(input.config),
    },
  );
}
