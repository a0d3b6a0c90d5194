/**
 * The gateway fleet's settings: the `fleet.yaml` key of a ConfigMap in the operator's namespace
 * (the chart writes it from its values). Defaults are merged in first, then the whole document is
 * checked against a JSON Schema, so a typo is a readable error and never a half-applied fleet.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { POD_OVERRIDE_DEFAULTS, type PodOverrides, podOverridesSchema } from './pod-overrides.js';

export const FLEET_CONFIG_KEY = 'fleet.yaml';

type StringMap = Record<string, string>;

export interface FleetConfig extends PodOverrides {
  readonly image: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  readonly replicas: number;
  readonly port: number;
  /** Prometheus scrape port of each gateway (`--metrics-port`); 0 turns the endpoint off. */
  readonly metricsPort: number;
  /** Namespaces the gateways watch (`--namespace`); empty means all. */
  readonly namespaces: readonly string[];
  /** Namespaces whose ModelRoutes are served (`--platform-namespace`); empty means all. */
  readonly platformNamespaces: readonly string[];
  readonly serviceAccountName: string;
  /** A Kubernetes ResourceRequirements object, passed through. */
  readonly resources: Readonly<Record<string, unknown>>;
  readonly redis: {
    readonly url: string;
    readonly failureMode: 'fail-open' | 'fail-closed';
    /** Secret (in the fleet namespace) with the Redis password: TOKENHUB_REDIS_PASSWORD via secretKeyRef. */
    readonly passwordSecret?: { readonly name: string; readonly key: string };
  };
  readonly otel: { readonly endpoint: string };
  readonly logLevel: string;
  readonly podDisruptionBudget: { readonly enabled: boolean; readonly minAvailable: number | string };
  readonly autoscaling: {
    readonly enabled: boolean;
    readonly minReplicas: number;
    readonly maxReplicas: number;
    readonly targetCPUUtilizationPercentage: number;
    /** An autoscaling/v2 HorizontalPodAutoscalerBehavior, passed through; empty: Kubernetes' defaults. */
    readonly behavior?: Readonly<Record<string, unknown>>;
  };
  readonly service: { readonly type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; readonly port: number; readonly annotations: StringMap };
  readonly podAnnotations: StringMap;
  readonly podLabels: StringMap;
  readonly nodeSelector: StringMap;
  readonly tolerations: readonly unknown[];
  readonly affinity: Readonly<Record<string, unknown>>;
}

export const FLEET_DEFAULTS: Omit<FleetConfig, 'image'> = {
  imagePullPolicy: 'IfNotPresent',
  replicas: 2,
  port: 8080,
  metricsPort: 9464,
  namespaces: [],
  platformNamespaces: [],
  serviceAccountName: 'tokenhub-gateway',
  resources: {},
  redis: { url: '', failureMode: 'fail-open' },
  otel: { endpoint: '' },
  logLevel: 'info',
  podDisruptionBudget: { enabled: true, minAvailable: 1 },
  autoscaling: { enabled: false, minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70 },
  service: { type: 'ClusterIP', port: 80, annotations: {} },
  podAnnotations: {},
  podLabels: {},
  nodeSelector: {},
  tolerations: [],
  affinity: {},
  ...POD_OVERRIDE_DEFAULTS,
};

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const object = (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

const fleetSchema = object(
  {
    image: { type: 'string', minLength: 1 },
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    replicas: { type: 'integer', minimum: 0 },
    port,
    metricsPort: { type: 'integer', minimum: 0, maximum: 65535 },
    namespaces: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } },
    platformNamespaces: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } },
    serviceAccountName: { type: 'string', minLength: 1 },
    resources: { type: 'object' },
    redis: object({
      url: { type: 'string' },
      failureMode: { enum: ['fail-open', 'fail-closed'] },
      passwordSecret: object({ name: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } }, ['name', 'key']),
    }),
    otel: object({ endpoint: { type: 'string' } }),
    logLevel: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    podDisruptionBudget: object({
      enabled: { type: 'boolean' },
      minAvailable: {
        anyOf: [
          { type: 'integer', minimum: 0 },
          { type: 'string', pattern: '^[0-9]+%$' },
        ],
      },
    }),
    autoscaling: object({
      enabled: { type: 'boolean' },
      minReplicas: { type: 'integer', minimum: 1 },
      maxReplicas: { type: 'integer', minimum: 1 },
      targetCPUUtilizationPercentage: { type: 'integer', minimum: 1, maximum: 100 },
      behavior: { type: 'object' },
    }),
    service: object({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port, annotations: stringMap }),
    podAnnotations: stringMap,
    podLabels: stringMap,
    nodeSelector: stringMap,
    tolerations: { type: 'array', items: { type: 'object' } },
    affinity: { type: 'object' },
    ...podOverridesSchema,
  },
  ['image'],
);

export type FleetConfigResult = { ok: true; config: FleetConfig } | { ok: false; error: string };

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge member by member; anything else the document says replaces the default. */
function withDefaults(defaults: unknown, given: unknown): unknown {
  if (!isPlainObject(defaults) || !isPlainObject(given)) return given === undefined || given === null ? defaults : given;
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(given)) out[k] = withDefaults(defaults[k], v);
  return out;
}

export class FleetConfigParser {
  private readonly validate: ValidateFunction;

  constructor() {
    this.validate = new Ajv({ allErrors: true }).compile(fleetSchema);
  }

  parse(text: string | undefined): FleetConfigResult {
    if (text === undefined) return { ok: false, error: `the ConfigMap has no key "${FLEET_CONFIG_KEY}"` };
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (err) {
      return { ok: false, error: `${FLEET_CONFIG_KEY} is not YAML: ${(err as Error).message.split('\n')[0]}` };
    }
    if (!isPlainObject(raw)) return { ok: false, error: `${FLEET_CONFIG_KEY} must be a mapping` };
    const merged = withDefaults(FLEET_DEFAULTS, raw);
    if (!this.validate(merged)) {
      const problems = (this.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
      return { ok: false, error: `${FLEET_CONFIG_KEY}: ${problems.join('; ')}` };
    }
    const config = merged as FleetConfig;
    if (config.autoscaling.enabled && config.autoscaling.minReplicas > config.autoscaling.maxReplicas) {
      return { ok: false, error: `${FLEET_CONFIG_KEY}: autoscaling.minReplicas must not exceed maxReplicas` };
    }
    return { ok: true, config };
  }
}
