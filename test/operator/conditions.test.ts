/**
 * Status as GitOps tools read it, on a real API server with the operator under the chart's RBAC:
 * a kstatus read (Flux) of an ApiKey whose Secret is missing says Failed, not Current; Argo CD's
 * health check (examples/gitops/argocd/health.lua, run in a Lua VM) says Degraded; fixing it
 * reads Current / Healthy; every transition leaves an Event; an unobserved generation reads
 * InProgress / Progressing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHealthScript } from '../support/argocd-health.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { kstatusOf } from '../support/kstatus.js';
import { FLEET_NS, type Obj, ROOT, type TestOperator, getJson, kubectl, prepareCluster, runOperator, waitFor } from './support.js';

const NS = FLEET_NS;
const LUA = readFileSync(join(ROOT, 'examples/gitops/argocd/health.lua'), 'utf8');

const route = `
apiVersion: tokenhub.io/v1alpha1
kind: ModelRoute
metadata: { name: m1, namespace: ${NS} }
spec:
  model: m1
  capabilities: [text]
  limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200 }
  backends: [{ name: primary, baseURL: "http://127.0.0.1:9/v1" }]
`;

const key = (name: string, extra = ''): string => `
apiVersion: tokenhub.io/v1alpha1
kind: ApiKey
metadata: { name: ${name}, namespace: ${NS} }
spec:
  credential: { secretRef: { name: ${name}-credentials, key: api-key } }${extra}
`;

interface EventItem {
  type: string;
  reason: string;
  note: string;
  reportingController: string;
  regarding: { kind: string; name: string };
}

const conditionOf = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);

describe('conditions for kstatus and Argo CD', () => {
  let cp: ControlPlane;
  let op: TestOperator | undefined;

  beforeAll(async () => {
    cp = await startControlPlane();
    const kubeconfig = await prepareCluster(cp);
    op = await runOperator(kubeconfig, { leaderElection: false });
    await kubectl(cp, ['apply', '-f', '-'], route);
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  const get = (name: string): Promise<Obj> => getJson<Obj>(cp, ['apikey', name, '-n', NS]);
  const settled = (name: string, reason: string): Promise<Obj> =>
    waitFor(
      async () => {
        const o = await get(name);
        return conditionOf(o, 'Ready')?.reason === reason && o.status?.observedGeneration === o.metadata.generation && o;
      },
      { what: `${name} Ready reason ${reason}` },
    );

  it('an ApiKey whose Secret is missing reads Failed (kstatus) and Degraded (Argo CD), with a Warning Event', async () => {
    await kubectl(cp, ['apply', '-f', '-'], key('broken'));
    const o = await settled('broken', 'SecretNotFound');
    expect(kstatusOf(o)).toEqual({ status: 'Failed', reason: 'SecretNotFound' });
    expect(runHealthScript(LUA, o)).toMatchObject({ status: 'Degraded' });
    expect(runHealthScript(LUA, o).message).toMatch(/^SecretNotFound: /);
    for (const type of ['Ready', 'Reconciling', 'Stalled']) expect(conditionOf(o, type)?.observedGeneration, type).toBe(o.metadata.generation);
    expect(conditionOf(o, 'Stalled')).toMatchObject({ status: 'True', reason: 'SecretNotFound' });
    expect(conditionOf(o, 'Reconciling')).toMatchObject({ status: 'False', reason: 'Reconciled' });
    const events = await waitFor(
      async () => {
        const items = (await getJson<{ items: EventItem[] }>(cp, ['events.v1.events.k8s.io', '-n', NS])).items.filter((e) => e.regarding.name === 'broken');
        return items.length > 0 && items;
      },
      { what: 'an Event for broken' },
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'SecretNotFound', reportingController: 'tokenhub.io/operator', regarding: { kind: 'ApiKey' } });
    expect(events[0]!.note).toMatch(/Ready=False \(SecretNotFound\).*Stalled=True \(SecretNotFound\)/);
  });

  it('creating the Secret turns it Current and Healthy, with a Normal Event for the transition', async () => {
    await kubectl(cp, ['-n', NS, 'create', 'secret', 'generic', 'broken-credentials', '--from-literal=api-key=th-conditions-test-key']);
    await kubectl(cp, ['-n', NS, 'label', 'secret', 'broken-credentials', 'tokenhub.io/credential=true']);
    const o = await settled('broken', 'Ready');
    expect(kstatusOf(o)).toEqual({ status: 'Current' });
    expect(runHealthScript(LUA, o)).toMatchObject({ status: 'Healthy' });
    expect(conditionOf(o, 'Stalled')).toMatchObject({ status: 'False', reason: 'Reconciled' });
    const events = await waitFor(
      async () => {
        const items = (await getJson<{ items: EventItem[] }>(cp, ['events.v1.events.k8s.io', '-n', NS])).items.filter((e) => e.regarding.name === 'broken');
        return items.length === 2 && items;
      },
      { what: 'a second Event for broken' },
    );
    expect(events.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'SecretNotFound'],
      ['Normal', 'Ready'],
    ]);
    expect(events[1]!.note).toMatch(/Ready=True \(Ready\), Stalled=False \(Reconciled\)/);
  });

  it('a disabled key is reconciled: Current for kstatus, Suspended for Argo CD', async () => {
    await kubectl(cp, ['-n', NS, 'create', 'secret', 'generic', 'paused-credentials', '--from-literal=api-key=th-conditions-off-key']);
    await kubectl(cp, ['-n', NS, 'label', 'secret', 'paused-credentials', 'tokenhub.io/credential=true']);
    await kubectl(cp, ['apply', '-f', '-'], key('paused', '\n  disabled: true'));
    const o = await settled('paused', 'KeyDisabled');
    expect(kstatusOf(o)).toEqual({ status: 'Current' });
    expect(runHealthScript(LUA, o)).toMatchObject({ status: 'Suspended' });
  });

  it('a generation the operator has not seen reads InProgress and Progressing', async () => {
    await op?.stop();
    op = undefined;
    await kubectl(cp, ['-n', NS, 'patch', 'apikey', 'broken', '--type=merge', '-p', '{"spec":{"displayName":"changed"}}']);
    const o = await get('broken');
    expect(o.metadata.generation).toBe(2);
    expect(kstatusOf(o)).toMatchObject({ status: 'InProgress' });
    expect(runHealthScript(LUA, o)).toMatchObject({ status: 'Progressing' });
  });

  it('argocd-cm carries health.lua unchanged for each of the three kinds', () => {
    const cm = parse(readFileSync(join(ROOT, 'examples/gitops/argocd/argocd-cm-health.yaml'), 'utf8')) as { data: Record<string, string> };
    expect(Object.keys(cm.data).sort()).toEqual(['ApiKey', 'ModelRoute', 'QuotaPolicy'].map((k) => `resource.customizations.health.tokenhub.io_${k}`));
    for (const script of Object.values(cm.data)) expect(script).toBe(LUA);
  });
});
