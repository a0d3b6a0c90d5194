/**
 * Kubernetes helpers for tests that run TokenHub components against a real API server under
 * exactly the RBAC rules the chart grants them (charts/tokenhub/files/rbac/*.yaml).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { type ControlPlane, impersonatingKubeconfig, serviceAccountIdentity } from './control-plane.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

const RBAC_DIR = join(import.meta.dirname, '../../charts/tokenhub/files/rbac');

/** The PolicyRules of one of the chart's rule files: a name in files/rbac/ (`gateway.yaml`) or a path. */
export function rbacRules(file: string): PolicyRule[] {
  const path = isAbsolute(file) ? file : join(RBAC_DIR, file);
  const rules = parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(rules)) throw new Error(`${path}: expected a YAML list of PolicyRules`);
  return rules as PolicyRule[];
}

/** The PolicyRules of one of the chart's rule files (async form of rbacRules). */
export async function loadRules(rulesFile: string): Promise<PolicyRule[]> {
  return Promise.resolve(rbacRules(rulesFile));
}

/** Runs kubectl as admin and throws with its stderr when it fails; returns stdout. */
export async function kubectlOk(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const res = await cp.kubectl(args, input === undefined ? {} : { input });
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}

/** `kubectl apply -f -` of YAML (or JSON) text in `namespace`, as admin. */
export function applyYaml(cp: ControlPlane, namespace: string, yaml: string): Promise<string> {
  return kubectlOk(cp, ['-n', namespace, 'apply', '-f', '-'], yaml);
}

export interface BindRulesOptions {
  cp: ControlPlane;
  /** Namespace of the ServiceAccount (created if missing, like the namespace itself). */
  namespace: string;
  serviceAccount: string;
  /** A file of PolicyRules, e.g. charts/tokenhub/files/rbac/gateway.yaml … */
  rulesFile?: string;
  /** … or the rules themselves (e.g. a file's rules with one removed). */
  rules?: PolicyRule[];
  /** ClusterRole + ClusterRoleBinding; else a Role + RoleBinding in each of `namespaces`. */
  clusterWide: boolean;
  /** Where the Roles go when not cluster-wide; default [namespace]. */
  namespaces?: string[];
  /** Role/binding name; default `<namespace>-<serviceAccount>`. */
  roleName?: string;
}

/**
 * Creates a ServiceAccount, a (Cluster)Role with exactly the given rules and the binding, and
 * returns the path of a kubeconfig that impersonates the ServiceAccount. Applying again with
 * other rules replaces them (RBAC changes take effect on the next request).
 */
export async function bindRules(opts: BindRulesOptions): Promise<string> {
  const { cp, namespace, serviceAccount } = opts;
  const rules = opts.rules ?? (opts.rulesFile === undefined ? undefined : await loadRules(opts.rulesFile));
  if (rules === undefined) throw new Error('bindRules: give rulesFile or rules');
  const name = opts.roleName ?? `${namespace}-${serviceAccount}`;
  const subject = { kind: 'ServiceAccount', name: serviceAccount, namespace };
  const meta = (ns?: string): Record<string, string> => (ns === undefined ? { name } : { name, namespace: ns });
  const docs: unknown[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } },
  ];
  const group = 'rbac.authorization.k8s.io';
  if (opts.clusterWide) {
    docs.push({ apiVersion: `${group}/v1`, kind: 'ClusterRole', metadata: meta(), rules });
    docs.push({
      apiVersion: `${group}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: meta(),
      roleRef: { apiGroup: group, kind: 'ClusterRole', name },
      subjects: [subject],
    });
  } else {
    for (const ns of opts.namespaces ?? [namespace]) {
      docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      docs.push({ apiVersion: `${group}/v1`, kind: 'Role', metadata: meta(ns), rules });
      docs.push({ apiVersion: `${group}/v1`, kind: 'RoleBinding', metadata: meta(ns), roleRef: { apiGroup: group, kind: 'Role', name }, subjects: [subject] });
    }
  }
  await kubectlOk(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }));
  return impersonatingKubeconfig(cp, serviceAccountIdentity(namespace, serviceAccount));
}

/** `kubectl auth can-i VERB RESOURCE` as the kubeconfig's identity: true for "yes". */
export async function canI(cp: ControlPlane, kubeconfig: string, args: string[]): Promise<boolean> {
  const res = await cp.kubectl(['auth', 'can-i', ...args], { kubeconfig });
  return res.stdout.trim() === 'yes';
}
