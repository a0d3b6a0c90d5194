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

function objectsOf(dir: string): K8sObject[] {
  return parseObjects(builds.get(dir) ?? '');
}

describe('Kustomize', () => {
  it.each(['models', 'policies', 'keys'])('examples/%s/Kustomization lists every manifest of its folder', (folder) => {
    const dir = join(ROOT, 'examples', folder);
    const listed = (parse(readFileSync(join(dir, 'Kustomization'), 'utf8')) as { resources: string[] }).resources;
    expect([...listed].sort()).toEqual(readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort());
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
    expect(objects.filter((o) => o.kind === 'ApiKey').map((o) => o.metadata.name).sort()).toEqual(['ci-bot', 'team-search']);
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
    const docs = ['argocd/applications.yaml', 'flux/tokenhub.yaml'].flatMap((f) =>
      parseAllDocuments(readFileSync(join(GITOPS, f), 'utf8')).map((d) => d.toJS() as K8sObject));
    const paths = docs.flatMap((d) => {
      const spec = d['spec'] as { source?: { path?: string }; path?: string; chart?: { spec?: { chart?: string } } };
      return [spec.source?.path, spec.path, spec.chart?.spec?.chart].filter((p): p is string => p !== undefined);
    });
    expect(paths.length).toBe(4);
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
