/**
 * Helm for the chart tests: the binary from $HELM, or the one hack/controlplane/build-helm.sh
 * builds once from its Go module (no download of a prebuilt binary), and renderers that parse
 * what `helm template` prints into objects.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run, type RunResult } from '../../src/devtools/control-plane-process.js';
import { afterAll, beforeAll } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { kubectlOk, rbacRules } from '../support/kube.js';

export const ROOT = join(import.meta.dirname, '../..');
export const CHART = join(ROOT, 'charts/tokenhub');
/** The version `helm template` pretends the cluster runs; the chart requires >= 1.28. */
export const KUBE_VERSION = '1.36.0';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

let helmPath: Promise<string> | undefined;

/** $HELM, else build-helm.sh's last stdout line (a directory holding `helm`, or the binary). */
export function helmBinary(): Promise<string> {
  helmPath ??= (async () => {
    if (process.env['HELM']) return process.env['HELM'];
    const res = await run('bash', [join(ROOT, 'hack/controlplane/build-helm.sh')], { echoStderr: true });
    const last = res.stdout.trim().split('\n').pop() ?? '';
    if (res.code !== 0 || last === '') throw new Error(`build-helm.sh failed (${res.code}): ${res.stderr.trim()}`);
    return statSync(last).isDirectory() ? join(last, 'helm') : last;
  })();
  return helmPath;
}

export async function helm(args: string[], opts: { kubeconfig?: string } = {}): Promise<RunResult> {
  const env = { ...process.env, ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}) };
  return run(await helmBinary(), args, { env, timeoutMs: 120_000 });
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** --set key=value pairs, in order. */
  set?: readonly string[];
  /** --api-versions, e.g. monitoring.coreos.com/v1/ServiceMonitor. */
  apiVersions?: readonly string[];
  includeCrds?: boolean;
}

/** A value set's --set arguments (`helm lint` takes these, but not --api-versions). */
export function valueArgs(opts: RenderOptions): string[] {
  return (opts.set ?? []).flatMap((s) => ['--set', s]);
}

/** `helm template` as text; throws with helm's stderr when it fails. */
export async function renderText(opts: RenderOptions = {}): Promise<string> {
  const res = await helm(templateArgs(opts));
  if (res.code !== 0) throw new Error(`helm template failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}

export function templateArgs(opts: RenderOptions = {}): string[] {
  return [
    'template',
    opts.release ?? 'tokenhub',
    CHART,
    '--namespace',
    opts.namespace ?? 'tokenhub',
    '--kube-version',
    KUBE_VERSION,
    ...(opts.includeCrds ? ['--include-crds'] : []),
    ...valueArgs(opts),
    ...(opts.apiVersions ?? []).flatMap((v) => ['--api-versions', v]),
  ];
}

export async function render(opts: RenderOptions = {}): Promise<K8sObject[]> {
  return parseObjects(await renderText(opts));
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** "Kind namespace/name" (namespace "-" for cluster-scoped objects), for readable assertions. */
export function idOf(o: K8sObject): string {
  return `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;
}

export function find(objects: readonly K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace));
  if (o === undefined) throw new Error(`no ${kind} ${name} among: ${objects.map(idOf).join(', ')}`);
  return o;
}

export type { PolicyRule } from '../support/kube.js';

/** The PolicyRules of one of files/rbac/*.yaml, the single source the chart renders. */
export const loadRules = rbacRules;

export { kubectlOk };

/** A real API server for the enclosing describe block, with the chart's namespace; stopped after it. */
export function apiServerWithNamespace(namespace = 'tokenhub'): () => ControlPlane {
  let cp: ControlPlane | undefined;
  beforeAll(async () => {
    cp = await startControlPlane();
    await kubectlOk(cp, ['create', 'namespace', namespace]);
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
  });
  return () => {
    if (cp === undefined) throw new Error('the control plane did not start');
    return cp;
  };
}
