/**
 * What a platform team adds to the gateway pods through the chart (gateway.* values → fleet.yaml
 * → here): topology spread, a priority class, extra env / envFrom / volumes / mounts, proxy
 * settings, a startup probe, a pod security context without a fixed user (OpenShift assigns
 * one from the namespace's range), and the HPA's scaling behaviour. Applied on top of the pod
 * template render.ts builds, so the defaults stay in one place and an empty override changes
 * nothing (and so neither the template hash). Pure.
 */

type Json = Record<string, unknown>;

export interface PodOverrides {
  readonly priorityClassName: string;
  readonly topologySpreadConstraints: readonly unknown[];
  /** EnvVar objects, after the operator's own (a duplicate name replaces the operator's value). */
  readonly extraEnv: readonly unknown[];
  readonly extraEnvFrom: readonly unknown[];
  readonly extraVolumes: readonly unknown[];
  readonly extraVolumeMounts: readonly unknown[];
  /** HTTP(S)_PROXY / NO_PROXY for the calls to upstream APIs; empty strings set nothing. */
  readonly proxy: { readonly httpProxy: string; readonly httpsProxy: string; readonly noProxy: string };
  /** /healthz as a startupProbe: liveness waits until the gateway has started. */
  readonly startupProbe: { readonly enabled: boolean; readonly periodSeconds: number; readonly failureThreshold: number };
  /** false: no runAsUser/runAsGroup (OpenShift's restricted SCC picks the user); runAsNonRoot stays. */
  readonly runAsFixedUser: boolean;
  /** Merged into the pod securityContext (fsGroup, supplementalGroups, …). */
  readonly podSecurityContext: Readonly<Json>;
}

export const POD_OVERRIDE_DEFAULTS: PodOverrides = {
  priorityClassName: '',
  topologySpreadConstraints: [],
  extraEnv: [],
  extraEnvFrom: [],
  extraVolumes: [],
  extraVolumeMounts: [],
  proxy: { httpProxy: '', httpsProxy: '', noProxy: '' },
  startupProbe: { enabled: false, periodSeconds: 2, failureThreshold: 30 },
  runAsFixedUser: true,
  podSecurityContext: {},
};

const arrayOf = (items: Json = { type: 'object' }): Json => ({ type: 'array', items });
const closed = (properties: Json): Json => ({ type: 'object', additionalProperties: false, properties });

/** JSON Schema of the override keys, merged into the fleet schema in config.ts. */
export const podOverridesSchema: Json = {
  priorityClassName: { type: 'string' },
  topologySpreadConstraints: arrayOf(),
  extraEnv: arrayOf({ type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } }),
  extraEnvFrom: arrayOf(),
  extraVolumes: arrayOf({ type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, not: { const: 'tmp' } } } }),
  extraVolumeMounts: arrayOf({ type: 'object', required: ['name', 'mountPath'] }),
  proxy: closed({ httpProxy: { type: 'string' }, httpsProxy: { type: 'string' }, noProxy: { type: 'string' } }),
  startupProbe: closed({
    enabled: { type: 'boolean' },
    periodSeconds: { type: 'integer', minimum: 1 },
    failureThreshold: { type: 'integer', minimum: 1 },
  }),
  runAsFixedUser: { type: 'boolean' },
  podSecurityContext: { type: 'object' },
};

function proxyEnv(p: PodOverrides['proxy']): Json[] {
  // Both spellings: Node's undici reads the upper case, many tools only the lower.
  const pairs: [string, string][] = [
    ['HTTP_PROXY', p.httpProxy],
    ['HTTPS_PROXY', p.httpsProxy],
    ['NO_PROXY', p.noProxy],
  ];
  return pairs
    .filter(([, v]) => v !== '')
    .flatMap(([k, v]) => [
      { name: k, value: v },
      { name: k.toLowerCase(), value: v },
    ]);
}

function shapeContainer(c: Json, o: PodOverrides): Json {
  const out: Json = { ...c };
  const env = [...((c['env'] as Json[] | undefined) ?? []), ...proxyEnv(o.proxy), ...(o.extraEnv as Json[])];
  // One entry per name, the last one winning, so the API server never sees a duplicate.
  const byName = new Map(env.map((e) => [e['name'] as string, e]));
  out['env'] = [...byName.values()];
  if (o.extraEnvFrom.length > 0) out['envFrom'] = [...o.extraEnvFrom];
  if (o.extraVolumeMounts.length > 0) out['volumeMounts'] = [...((c['volumeMounts'] as unknown[] | undefined) ?? []), ...o.extraVolumeMounts];
  if (o.startupProbe.enabled) {
    out['startupProbe'] = {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: o.startupProbe.periodSeconds,
      failureThreshold: o.startupProbe.failureThreshold,
    };
  }
  return out;
}

function shapeSecurityContext(sc: Json | undefined, o: PodOverrides): Json {
  const out: Json = { ...sc };
  if (!o.runAsFixedUser) {
    delete out['runAsUser'];
    delete out['runAsGroup'];
  }
  return { ...out, ...o.podSecurityContext };
}

/** The pod template with the overrides applied; the first container is the gateway. */
export function shapePodTemplate(template: Json, config: PodOverrides): Json {
  const o = config;
  const spec = { ...(template['spec'] as Json) };
  spec['securityContext'] = shapeSecurityContext(spec['securityContext'] as Json | undefined, o);
  spec['containers'] = (spec['containers'] as Json[]).map((c, i) => (i === 0 ? shapeContainer(c, o) : c));
  if (o.extraVolumes.length > 0) spec['volumes'] = [...((spec['volumes'] as unknown[] | undefined) ?? []), ...o.extraVolumes];
  if (o.priorityClassName !== '') spec['priorityClassName'] = o.priorityClassName;
  if (o.topologySpreadConstraints.length > 0) spec['topologySpreadConstraints'] = [...o.topologySpreadConstraints];
  return { ...template, spec };
}

/** spec.behavior of the HPA when one is given (scale-down stabilisation, policies). */
export function hpaBehavior(config: { readonly autoscaling: { readonly behavior?: Readonly<Record<string, unknown>> } }): Json {
  const b = config.autoscaling.behavior;
  return b === undefined || Object.keys(b).length === 0 ? {} : { behavior: b };
}
