/**
 * The chart and the operator meet in the fleet ConfigMap. For every value set: the operator's
 * own parser accepts what the chart writes, and the gateway fleet the operator renders from it
 * carries what the chart's other objects rely on (the ServiceAccount it binds, the pod labels
 * its NetworkPolicy selects, the Service labels its ServiceMonitor selects).
 */
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLEET_CONFIG_KEY, FleetConfigParser, type FleetConfig } from '../../src/operator/fleet/config.js';
import { renderFleet } from '../../src/operator/fleet/render.js';
import type { KubeObject } from '../../src/kube/client.js';
import { find, helmBinary, render, type K8sObject } from './helm.js';
import { VALUE_SETS } from './value-sets.js';

beforeAll(async () => {
  await helmBinary();
}, 600_000);

function fleetOf(objects: readonly K8sObject[]): { config: FleetConfig; cm: K8sObject } {
  const cm = find(objects, 'ConfigMap', 'tokenhub-gateway', 'tokenhub');
  const parsed = new FleetConfigParser().parse((cm['data'] as Record<string, string>)[FLEET_CONFIG_KEY]);
  if (!parsed.ok) throw new Error(`the operator refuses the chart's fleet.yaml: ${parsed.error}`);
  return { config: parsed.config, cm };
}

function labelsOf(o: KubeObject | undefined): Record<string, string> {
  return o?.metadata.labels ?? {};
}

describe.each(Object.entries(VALUE_SETS))('value set "%s"', (_name, opts) => {
  it("the operator accepts the fleet ConfigMap, and its fleet fits the chart's objects", async () => {
    const objects = await render(opts);
    const { config, cm } = fleetOf(objects);
    // Every chart value reaches the operator unchanged (its defaults fill nothing in).
    expect(config).toEqual(parse((cm['data'] as Record<string, string>)[FLEET_CONFIG_KEY] ?? ''));

    const fleet = renderFleet({ config, namespace: 'tokenhub', owner: { name: cm.metadata.name, uid: 'uid' } });
    const pod = (fleet.Deployment?.['spec'] as { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } } }).template;
    expect(pod.spec.serviceAccountName).toBe('tokenhub-gateway');
    expect(find(objects, 'ServiceAccount', 'tokenhub-gateway')).toBeDefined();

    const np = find(objects, 'NetworkPolicy', 'tokenhub-gateway')['spec'] as { podSelector: { matchLabels: Record<string, string> } };
    expect(pod.metadata.labels).toMatchObject(np.podSelector.matchLabels);

    const sm = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'tokenhub-gateway');
    if (sm !== undefined) {
      const selector = (sm['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(labelsOf(fleet.Service)).toMatchObject(selector);
    }
    expect(fleet.HorizontalPodAutoscaler !== undefined).toBe(config.autoscaling.enabled);

    // Redis: the password reaches the gateway pods from its Secret, never as a literal.
    const container = (
      fleet.Deployment?.['spec'] as { template: { spec: { containers: { args: string[]; env: { name: string; value?: string; valueFrom?: unknown }[] }[] } } }
    ).template.spec.containers[0];
    const password = container?.env.find((e) => e.name === 'TOKENHUB_REDIS_PASSWORD');
    if (config.redis.passwordSecret === undefined) expect(password).toBeUndefined();
    else expect(password).toEqual({ name: 'TOKENHUB_REDIS_PASSWORD', valueFrom: { secretKeyRef: config.redis.passwordSecret } });
    expect(container?.env.every((e) => e.value === undefined || !/password/i.test(e.name))).toBe(true);
    expect(container?.args.join(' ')).toContain(`--platform-namespace ${config.platformNamespaces.join(',')}`);
  });
});
