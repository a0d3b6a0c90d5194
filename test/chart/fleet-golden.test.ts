/**
 * The gateway fleet exactly as the operator renders it from the chart's values: helm template →
 * the fleet ConfigMap's fleet.yaml → FleetConfigParser → renderFleet, compared with golden files
 * (Deployment, Service, PDB, HPA), then a server-side dry-run of the shaped fleet against a real
 * API server, and values.schema.json refusing the knobs' worst values.
 * Regenerate with UPDATE_GOLDEN=1 bash scripts/test.sh test/chart/fleet-golden.test.ts, then
 * review the YAML diff.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { FleetConfigParser } from '../../src/operator/fleet/config.js';
import { FLEET_KINDS, renderFleet } from '../../src/operator/fleet/render.js';
import { CHART, apiServerWithNamespace, find, helm, kubectlOk, parseObjects, render } from './helm.js';

const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const TESTDATA = join(import.meta.dirname, 'testdata');
const SHAPED = join(TESTDATA, 'values-shaped-fleet.yaml');

/** The fleet objects the operator renders from the chart's fleet.yaml for a values file (or the defaults). */
async function fleetOf(valuesFile?: string) {
  const objects = valuesFile === undefined ? await render() : await renderWith(valuesFile);
  const cm = find(objects, 'ConfigMap', 'tokenhub-gateway');
  const parsed = new FleetConfigParser().parse((cm['data'] as Record<string, string>)['fleet.yaml']);
  if (!parsed.ok) throw new Error(parsed.error);
  return renderFleet({ config: parsed.config, namespace: 'tokenhub', owner: { name: 'tokenhub-gateway', uid: '00000000-0000-0000-0000-000000000000' } });
}

/** helm template with a values file (render() takes --set only). */
async function renderWith(valuesFile: string) {
  const res = await helm(['template', 'tokenhub', CHART, '--namespace', 'tokenhub', '-f', valuesFile]);
  if (res.code !== 0) throw new Error(res.stderr);
  return parseObjects(res.stdout);
}

const CASES: Record<string, string | undefined> = { default: undefined, shaped: SHAPED };

describe('fleet golden files', () => {
  it.each(Object.keys(CASES))('%s: Deployment, Service, PDB and HPA as the operator renders them', async (name) => {
    const fleet = await fleetOf(CASES[name]);
    const actual = FLEET_KINDS.map((k) => fleet[k])
      .filter((o) => o !== undefined)
      .map((o) => `---\n${stringify(o)}`)
      .join('');
    const file = join(TESTDATA, 'fleet', `${name}.yaml`);
    if (UPDATE) writeFileSync(file, actual);
    expect(existsSync(file), `${file} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
    expect(actual).toBe(readFileSync(file, 'utf8'));
  });

  it('the default knobs change nothing: the default golden has no override field', async () => {
    const pod = ((await fleetOf()).Deployment?.['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod['priorityClassName']).toBeUndefined();
    expect(pod['topologySpreadConstraints']).toBeUndefined();
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 });
  });

  it('the shaped fleet: no fixed user, one env entry per name (extraEnv wins), proxy in both cases', async () => {
    const fleet = await fleetOf(SHAPED);
    const pod = (fleet.Deployment?.['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod['securityContext']).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, fsGroupChangePolicy: 'OnRootMismatch' });
    const env = (pod['containers'] as { env: { name: string; value?: string }[] }[])[0]!.env;
    expect(env.filter((e) => e.name === 'TOKENHUB_REDIS_FAILURE_MODE')).toEqual([{ name: 'TOKENHUB_REDIS_FAILURE_MODE', value: 'fail-closed' }]);
    expect(env.map((e) => e.name)).toEqual(expect.arrayContaining(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']));
    expect(fleet.HorizontalPodAutoscaler?.['spec']).toMatchObject({ behavior: { scaleDown: { stabilizationWindowSeconds: 600 } } });
  });
});

describe('values.schema.json refuses the worst values of the new knobs', () => {
  const bad: [string, RegExp][] = [
    ['gateway.extraVolumes[0].name=tmp', /extraVolumes/],
    ['gateway.extraEnv[0].value=x', /extraEnv/],
    ['gateway.podSecurityContext.runAsUser=0', /podSecurityContext/],
    ['gateway.proxy.httpsproxy=http://p:3128', /proxy/],
    ['gateway.startupProbe.failureThreshold=0', /failureThreshold/],
    ['gateway.runAsFixedUser=maybe', /runAsFixedUser/],
  ];
  it.each(bad)('--set %s', async (set, message) => {
    const res = await helm(['template', 'tokenhub', CHART, '--set', set]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message);
  });
});

describe('the shaped fleet on a real API server', () => {
  const cp = apiServerWithNamespace();

  it('passes a server-side dry-run, every object', async () => {
    const fleet = await fleetOf(SHAPED);
    const items = FLEET_KINDS.map((k) => fleet[k])
      .filter((o) => o !== undefined)
      .map((o) => ({ ...o, metadata: { ...o.metadata, ownerReferences: undefined } }));
    expect(items.map((o) => o.kind)).toEqual([...FLEET_KINDS]);
    const out = await kubectlOk(cp(), ['apply', '--server-side', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    expect(out).toMatch(/deployment.apps\/tokenhub-gateway serverside-applied/);
  });
});
