/** The pure fleet pieces: fleet.yaml parsing with defaults, rendering, the template hash. */
import { describe, expect, it } from 'vitest';
import { FLEET_DEFAULTS, type FleetConfig, FleetConfigParser } from '../../src/operator/fleet/config.js';
import { needsWrite } from '../../src/operator/fleet/controller.js';
import { TEMPLATE_HASH_ANNOTATION, renderFleet } from '../../src/operator/fleet/render.js';

const parser = new FleetConfigParser();
const owner = { name: 'tokenhub-gateway', uid: 'u-1' };
const render = (over: Partial<FleetConfig> = {}) =>
  renderFleet({ config: { ...FLEET_DEFAULTS, image: 'tokenhub:0.1.0', ...over }, namespace: 'tokenhub', owner });
const hashOf = (o: { metadata: { annotations?: Record<string, string> } } | undefined): string | undefined =>
  o?.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION];

describe('fleet.yaml', () => {
  it('fills defaults member by member', () => {
    const parsed = parser.parse('image: tokenhub:0.1.0\nredis: { url: "redis://r:6379" }\n');
    expect(parsed).toEqual({ ok: true, config: { ...FLEET_DEFAULTS, image: 'tokenhub:0.1.0', redis: { url: 'redis://r:6379', failureMode: 'fail-open' } } });
  });

  it('says what is wrong, and where', () => {
    expect(parser.parse(undefined)).toEqual({ ok: false, error: 'the ConfigMap has no key "fleet.yaml"' });
    expect(parser.parse('replicas: 2\n')).toMatchObject({ ok: false, error: expect.stringMatching(/must have required property 'image'/) });
    expect(parser.parse('image: x\nreplicas: many\nservice: { typo: 1 }\n')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/\/replicas must be integer.*\/service must NOT have additional properties/),
    });
    expect(parser.parse('image: x\nautoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 }\n')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/minReplicas/),
    });
    expect(parser.parse(': [')).toMatchObject({ ok: false, error: expect.stringMatching(/not YAML/) });
  });
});

describe('renderFleet', () => {
  it('is deterministic, and the hash moves only with what the pods run', () => {
    expect(render()).toEqual(render());
    const hpa = (minReplicas: number): Partial<FleetConfig> => ({
      autoscaling: { enabled: true, minReplicas, maxReplicas: 8, targetCPUUtilizationPercentage: 70 },
    });
    // minReplicas is the HPA's business: the pods (and so the Deployment) stay as they are.
    expect(hashOf(render(hpa(3)).Deployment)).toBe(hashOf(render(hpa(2)).Deployment));
    // The replica count reaches the pods as TOKENHUB_REPLICAS (their share when Redis is away).
    expect(hashOf(render({ replicas: 5 }).Deployment)).not.toBe(hashOf(render().Deployment));
    expect(hashOf(render({ image: 'tokenhub:0.2.0' }).Deployment)).not.toBe(hashOf(render().Deployment));
    expect(hashOf(render({ image: 'tokenhub:0.2.0' }).Service)).toBe(hashOf(render().Service));
  });

  it('leaves replicas to an HPA, and switches the PDB off', () => {
    const objs = render({
      autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 4, targetCPUUtilizationPercentage: 60 },
      podDisruptionBudget: { enabled: false, minAvailable: 1 },
    });
    expect(objs.Deployment?.['spec']).not.toHaveProperty('replicas');
    expect(objs.HorizontalPodAutoscaler?.['spec']).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
    expect(objs.PodDisruptionBudget).toBeUndefined();
  });

  it('keeps its own selector label however podLabels are set', () => {
    const d = render({ podLabels: { 'tokenhub.io/fleet': 'hijack', 'app.kubernetes.io/name': 'tokenhub' } }).Deployment!;
    const spec = d['spec'] as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
    expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(spec.template.metadata.labels['app.kubernetes.io/name']).toBe('tokenhub');
  });
});

describe('renderFleet: tenancy and Redis auth', () => {
  it('passes the platform namespaces and takes the Redis password from its Secret, never as a value', () => {
    const d = render({
      namespaces: ['tokenhub', 'team-a'],
      platformNamespaces: ['tokenhub'],
      redis: { url: 'redis://r:6379', failureMode: 'fail-open', passwordSecret: { name: 'tokenhub-redis', key: 'password' } },
    }).Deployment!;
    const c = (d['spec'] as { template: { spec: { containers: { args: string[]; env: unknown[] }[] } } }).template.spec.containers[0]!;
    expect(c.args.join(' ')).toContain('--namespace tokenhub,team-a --platform-namespace tokenhub');
    expect(c.env).toContainEqual({ name: 'TOKENHUB_REDIS_URL', value: 'redis://r:6379' });
    expect(c.env).toContainEqual({ name: 'TOKENHUB_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'tokenhub-redis', key: 'password' } } });
    const plain = render({ redis: { url: 'redis://r:6379', failureMode: 'fail-open' } }).Deployment!['spec'] as {
      template: { spec: { containers: { env: { name: string }[] }[] } };
    };
    expect(plain.template.spec.containers[0]!.env.map((e) => e.name)).not.toContain('TOKENHUB_REDIS_PASSWORD');
  });
});

describe('needsWrite', () => {
  const desired = render().Deployment!;
  it('writes when absent, when the hash differs, or when replicas drifted', () => {
    expect(needsWrite(desired, undefined)).toBe(true);
    expect(needsWrite(desired, { ...desired, metadata: { ...desired.metadata, annotations: {} } })).toBe(true);
    expect(needsWrite(desired, { ...desired, spec: { ...(desired['spec'] as object), replicas: 7 } })).toBe(true);
    expect(needsWrite(desired, structuredClone(desired))).toBe(false);
  });
});
