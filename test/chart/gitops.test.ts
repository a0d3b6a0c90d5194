/**
 * examples/gitops/ as a GitOps controller sees it: Kustomize builds each overlay (with the
 * kubectl the control plane tests use), what it builds passes `tokenhub validate` and a real
 * API server with the CRDs, and the Argo CD / Flux manifests point at paths that exist.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBinaries, startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { run } from '../../src/devtools/control-plane-process.js';
import { CHART, ROOT, find, idOf, kubectlOk, parseObjects, type K8sObject } from './helm.js';

const GITOPS = join(ROOT, 'examples/gitops');
const OVERLAYS = ['staging', 'production'] as const;

async function kustomize(dir: string): Promise<string> {
  const { kubectl } = await resolveBinaries();
  const res = await run(kubectl, ['kustomize', dir], { timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

const builds = new Map<string, string>();
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tokenhub-gitops-'));
  for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) builds.set(dir, await kustomize(join(GITOPS, dir)));
}, 900_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const GITOPS_TOOL_FILES = ['argocd/applications.yaml', 'flux/tokenhub.yaml', 'flux/release/helmrelease.yaml'];

function docsOf(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(join(GITOPS, file), 'utf8')).map((d) => d.toJS() as K8sObject);
}

/** An open-schema stand-in for a GitOps tool's CRD (group, version, kind, scope as upstream). */
function stubCrd(group: string, version: string, kind: string): unknown {
  const plural = `${kind.toLowerCase()}s`;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}

function objectsOf(dir: string): K8sObject[] {
  return parseObjects(builds.get(dir) ?? '');
}

describe('Kustomize', () => {
  it.each(['models', 'policies', 'keys'])('examples/%s/Kustomization lists every manifest of its folder', (folder) => {
    const dir = join(ROOT, 'examples', folder);
    const listed = (parse(readFileSync(join(dir, 'Kustomization'), 'utf8')) as { resources: string[] }).resources;
    expect([...listed].sort()).toEqual(
      readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort(),
    );
  });

  it('base: the namespace, the ten models, both tiers and the three keys', () => {
    const kinds = objectsOf('base').map((o) => o.kind);
    expect(kinds.filter((k) => k === 'Namespace')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ModelRoute')).toHaveLength(10);
    expect(kinds.filter((k) => k === 'QuotaPolicy')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'ApiKey')).toHaveLength(3);
  });

  it('staging: everything moved to tokenhub-staging and labelled', () => {
    const objects = objectsOf('overlays/staging');
    expect(objects).toHaveLength(16);
    expect(find(objects, 'Namespace', 'tokenhub-staging')).toBeDefined();
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, idOf(o)).toBe('tokenhub-staging');
    for (const o of objects) expect(o.metadata.labels?.['tokenhub.io/environment'], idOf(o)).toBe('staging');
  });

  it('production: paid-tier limits raised, the public demo key gone, the rest untouched', () => {
    const objects = objectsOf('overlays/production');
    expect(
      objects
        .filter((o) => o.kind === 'ApiKey')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['ci-bot', 'team-search']);
    const paid = find(objects, 'QuotaPolicy', 'paid-tier')['spec'] as Record<string, unknown>;
    expect(paid['rateLimits']).toEqual({ rpm: 10000, tpm: 8000000 });
    expect(paid['budgets']).toEqual({ cost: { month: '5000.00', total: '20000.00' } });
    const base = find(objectsOf('base'), 'QuotaPolicy', 'paid-tier')['spec'] as Record<string, unknown>;
    expect(paid['modelRateLimits']).toEqual(base['modelRateLimits']);
  });
});

describe('pre-merge checks', () => {
  it.each(OVERLAYS)('tokenhub validate passes what overlay %s builds', async (overlay) => {
    const file = join(tmp, `${overlay}.yaml`);
    await writeFile(file, builds.get(`overlays/${overlay}`) ?? '');
    const { stdout } = await promisify(execFile)('node', [join(ROOT, 'bin/tokenhub.js'), 'validate', '-f', file], { cwd: ROOT });
    expect(stdout).toMatch(/TokenHub object\(s\) in 1 file\(s\): valid/);
  });

  it('the CI example is a workflow that runs tokenhub validate on examples/', () => {
    const wf = parse(readFileSync(join(GITOPS, '.github/workflows/tokenhub-validate.yaml'), 'utf8')) as { jobs: Record<string, { steps: { run?: string }[] }> };
    const runs = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    expect(runs).toContain('npx --no-install tokenhub validate -f examples/');
  });

  it('the Argo CD and Flux manifests point at paths of this repository', () => {
    const docs = GITOPS_TOOL_FILES.flatMap(docsOf);
    const paths = docs.flatMap((d) => {
      const spec = d['spec'] as { source?: { path?: string }; path?: string; chart?: { spec?: { chart?: string } } };
      return [spec.source?.path, spec.path, spec.chart?.spec?.chart].filter((p): p is string => p !== undefined);
    });
    expect(paths.length).toBe(7);
    for (const p of paths) expect(existsSync(join(ROOT, p)), p).toBe(true);
  });
});

describe('on a real API server with the CRDs', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    await kubectlOk(cp, ['apply', '--server-side', '-f', join(CHART, 'crds')]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  }, 900_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('kubectl apply -R on the example folders skips the Kustomization files and passes the CRDs', async () => {
    await kubectlOk(cp, ['create', 'namespace', 'tokenhub']);
    const dirs = ['models', 'policies', 'keys'].flatMap((d) => ['-f', join(ROOT, 'examples', d)]);
    const out = await kubectlOk(cp, ['apply', '--server-side', '--dry-run=server', '-R', ...dirs, '-o', 'name']);
    expect(out.trim().split('\n')).toHaveLength(15);
  });

  it.each(['base', ...OVERLAYS.map((o) => `overlays/${o}`)])('%s applies', async (dir) => {
    await kubectlOk(cp, ['apply', '--server-side', '--force-conflicts', '-f', '-'], builds.get(dir));
    const ns = dir.endsWith('staging') ? 'tokenhub-staging' : 'tokenhub';
    const stored = await kubectlOk(cp, ['-n', ns, 'get', 'quotapolicy', 'paid-tier', '-o', 'jsonpath={.spec.rateLimits.rpm}']);
    expect(stored).toBe(dir.endsWith('production') ? '10000' : '3000');
  });
});

describe('Argo CD: order inside the apps, retries, health', () => {
  const apps = docsOf('argocd/applications.yaml');
  type AppSpec = { syncPolicy: { retry?: { limit: number }; syncOptions: string[] }; source: { helm?: { releaseName?: string; skipCrds?: boolean } } };

  it('no Application carries a sync wave (it would order nothing); every one retries', () => {
    expect(apps.map((a) => a.metadata.name)).toEqual(['tokenhub-crds', 'tokenhub', 'tokenhub-config']);
    for (const a of apps) {
      expect(a.metadata.annotations?.['argocd.argoproj.io/sync-wave'], a.metadata.name).toBeUndefined();
      expect((a['spec'] as AppSpec).syncPolicy.retry?.limit, a.metadata.name).toBeGreaterThan(0);
      expect((a['spec'] as AppSpec).syncPolicy.syncOptions).toContain('ServerSideApply=true');
    }
    expect((find(apps, 'Application', 'tokenhub')['spec'] as AppSpec).source.helm).toMatchObject({ releaseName: 'tokenhub', skipCrds: true });
  });

  it.each(OVERLAYS)('overlay %s: namespace, then models and policies, then keys; custom resources skip the dry-run while CRDs are missing', (overlay) => {
    const objects = objectsOf(`overlays/${overlay}`);
    const wave = (o: K8sObject): number => Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave']);
    for (const o of objects) {
      expect(Number.isInteger(wave(o)), idOf(o)).toBe(true);
      if (o.kind === 'Namespace') expect(wave(o)).toBe(-1);
      else expect(o.metadata.annotations?.['argocd.argoproj.io/sync-options'], idOf(o)).toBe('SkipDryRunOnMissingResource=true');
    }
    const keys = objects.filter((o) => o.kind === 'ApiKey');
    const referenced = objects.filter((o) => o.kind === 'QuotaPolicy' || o.kind === 'ModelRoute');
    expect(Math.min(...keys.map(wave))).toBeGreaterThan(Math.max(...referenced.map(wave)));
  });
});

describe('Flux: release names, dependsOn, health checks', () => {
  const top = docsOf('flux/tokenhub.yaml');
  const releases = docsOf('flux/release/helmrelease.yaml');

  it('each HelmRelease names its release (not <targetNamespace>-<name>); tokenhub waits for the CRDs and skips its own', () => {
    for (const r of releases) expect((r['spec'] as { releaseName?: string }).releaseName).toBe(r.metadata.name);
    const spec = find(releases, 'HelmRelease', 'tokenhub')['spec'] as { dependsOn: { name: string }[]; install: { crds: string }; upgrade: { crds: string } };
    expect(spec.dependsOn).toEqual([{ name: 'tokenhub-crds' }]);
    expect([spec.install.crds, spec.upgrade.crds]).toEqual(['Skip', 'Skip']);
  });

  it('the config Kustomization dependsOn the release one, and both wait for health', () => {
    type KsSpec = { dependsOn?: { name: string }[]; wait?: boolean; timeout?: string; path: string };
    const release = find(top, 'Kustomization', 'tokenhub-release')['spec'] as KsSpec;
    const config = find(top, 'Kustomization', 'tokenhub-config')['spec'] as KsSpec;
    expect(config.dependsOn).toEqual([{ name: 'tokenhub-release' }]);
    expect([release.wait, config.wait]).toEqual([true, true]);
    expect(config.timeout).toBeDefined();
    expect(release.path).toBe('./examples/gitops/flux/release');
  });

  it('flux/release builds with Kustomize to the two HelmReleases', async () => {
    expect(
      parseObjects(await kustomize(join(GITOPS, 'flux/release')))
        .map(idOf)
        .sort(),
    ).toEqual(['HelmRelease flux-system/tokenhub', 'HelmRelease flux-system/tokenhub-crds']);
  });
});

describe('the Argo CD and Flux manifests on a real API server (stand-in CRDs for their kinds)', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    const crds = [
      stubCrd('argoproj.io', 'v1alpha1', 'Application'),
      stubCrd('source.toolkit.fluxcd.io', 'v1', 'GitRepository'),
      stubCrd('helm.toolkit.fluxcd.io', 'v2', 'HelmRelease'),
      stubCrd('kustomize.toolkit.fluxcd.io', 'v1', 'Kustomization'),
    ];
    await kubectlOk(cp, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }));
    await kubectlOk(cp, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    for (const ns of ['argocd', 'flux-system']) await kubectlOk(cp, ['create', 'namespace', ns]);
  }, 900_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it.each([...GITOPS_TOOL_FILES, 'argocd/argocd-cm-health.yaml'])('%s: server-side dry-run, then apply', async (file) => {
    const text = readFileSync(join(GITOPS, file), 'utf8');
    const dry = await cp.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: text });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const out = await kubectlOk(cp, ['apply', '--server-side', '-f', '-', '-o', 'name'], text);
    expect(out.trim().split('\n')).toHaveLength(docsOf(file).length);
  });
});
