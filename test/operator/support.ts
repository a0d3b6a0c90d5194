/**
 * Operator tests: a real control plane, the CRDs, and the operator running in-process under a
 * ServiceAccount identity bound to exactly the rules in charts/tokenhub/files/rbac/operator*.yaml
 * (a missing or an excess permission shows up as a failing test).
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { type RunningOperator, type StartOperatorOptions, startOperator } from '../../src/operator/operator.js';
import { type ControlPlane, impersonatingKubeconfig, serviceAccountIdentity } from '../support/control-plane.js';
import { rbacRules } from '../support/kube.js';

export { ensureBuilt } from '../support/build.js';
export { waitFor } from '../support/poll.js';

export const ROOT = join(import.meta.dirname, '../..');
export const FLEET_NS = 'tokenhub';
const SA = 'tokenhub-operator';

const rules = rbacRules;

/** Runs kubectl as admin and fails the test with its stderr if it exits non-zero. */
export async function kubectl(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const res = await cp.kubectl(args, input === undefined ? {} : { input });
  expect(res.code, `kubectl ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout.trim();
}

export async function getJson<T = Record<string, unknown>>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse(await kubectl(cp, ['get', ...args, '-o', 'json'])) as T;
}

/** CRDs, the fleet namespace, and the operator's RBAC exactly as the chart's rule files say. */
export async function prepareCluster(cp: ControlPlane): Promise<string> {
  await kubectl(cp, ['apply', '-f', join(ROOT, 'crds')]);
  await kubectl(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
  await kubectl(cp, ['create', 'namespace', FLEET_NS]);
  const subject = [{ kind: 'ServiceAccount', name: SA, namespace: FLEET_NS }];
  const docs = [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: SA }, rules: rules('operator.yaml') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: SA },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: SA },
      subjects: subject,
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: SA, namespace: FLEET_NS }, rules: rules('operator-fleet.yaml') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: SA, namespace: FLEET_NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SA },
      subjects: subject,
    },
  ];
  await kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
  return impersonatingKubeconfig(cp, serviceAccountIdentity(FLEET_NS, SA));
}

/** The policy objects of examples/ (its gitops/ folder holds Argo CD, Flux and CI files, not for a bare cluster). */
export async function applyExamples(cp: ControlPlane): Promise<void> {
  await kubectl(cp, ['apply', '-R', ...['models', 'policies', 'keys'].flatMap((d) => ['-f', join(ROOT, 'examples', d)])]);
}

/** Lease timings short enough for a failover test, long enough for a loaded CI machine. */
export const FAST_LEASE = { leaseDurationMs: 3_000, renewIntervalMs: 500, renewDeadlineMs: 2_000 };

export interface TestOperator extends RunningOperator {
  readonly client: KubeClient;
}

export async function runOperator(kubeconfig: string, opts: Partial<StartOperatorOptions> = {}): Promise<TestOperator> {
  const client = await KubeClient.load(kubeconfig);
  const op = await startOperator({
    client,
    health: { port: 0, host: '127.0.0.1' },
    leaderElection: { timings: FAST_LEASE },
    debounceMs: 50,
    logger: process.env['TOKENHUB_TEST_LOG'] ? { level: process.env['TOKENHUB_TEST_LOG'] } : false,
    ...opts,
  });
  return {
    ...op,
    client,
    isLeader: () => op.isLeader(),
    ready: () => op.ready(),
    stop: async () => {
      await op.stop();
      await client.close();
    },
  };
}

export interface Obj {
  metadata: {
    name: string;
    resourceVersion: string;
    generation?: number;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    annotations?: Record<string, string>;
    uid: string;
  };
  spec?: Record<string, unknown>;
  status?: {
    ready?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string }[];
    [k: string]: unknown;
  };
}

export const readyOf = (o: Obj): { status?: string; reason?: string } => {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return { status: c?.status, reason: c?.reason };
};
