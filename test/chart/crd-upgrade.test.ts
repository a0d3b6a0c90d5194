/**
 * The CRD upgrade path: charts/tokenhub-crds renders the CRDs as templates (so `helm upgrade`
 * upgrades them, which Helm never does for a chart's crds/), keeps them on uninstall
 * (helm.sh/resource-policy: keep), adopts CRDs an earlier `helm install tokenhub` created, and
 * coexists with the tokenhub chart. Against a real API server, with a chart copy that carries a
 * CRD change the way a new release would.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { CHART, ROOT, helm, helmBinary, kubectlOk, parseObjects } from './helm.js';

const CRD_CHART = join(ROOT, 'charts/tokenhub-crds');
const NAMES = ['apikeys.tokenhub.io', 'modelroutes.tokenhub.io', 'quotapolicies.tokenhub.io'];

let cp: ControlPlane;
let work: string;

/** A copy of the CRD chart with the link resolved, optionally with one change to the ModelRoute CRD. */
function chartCopy(name: string, change?: (text: string) => string): string {
  const dir = join(work, name);
  cpSync(CRD_CHART, dir, { recursive: true, dereference: true });
  if (change !== undefined) {
    const file = join(dir, 'files/tokenhub.io_modelroutes.yaml');
    writeFileSync(file, change(readFileSync(file, 'utf8')));
  }
  return dir;
}

const helmOk = async (args: string[]): Promise<string> => {
  const res = await helm(args, { kubeconfig: cp.kubeconfigPath });
  expect(res.code, `helm ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout;
};

const crd = async (
  name: string,
): Promise<{
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { versions: { additionalPrinterColumns?: { name: string }[] }[] };
}> => JSON.parse(await kubectlOk(cp, ['get', 'crd', name, '-o', 'json'])) as Awaited<ReturnType<typeof crd>>;

beforeAll(async () => {
  [cp] = await Promise.all([startControlPlane(), helmBinary()]);
  work = mkdtempSync(join(tmpdir(), 'tokenhub-crd-upgrade-'));
}, 900_000);

afterAll(async () => {
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('charts/tokenhub-crds', () => {
  it('renders exactly the CRDs of crds/, labelled and kept; nothing with crds.enabled=false', async () => {
    const rendered = parseObjects(await helmOk(['template', 'crds', CRD_CHART]));
    expect(rendered.map((o) => o.metadata.name).sort()).toEqual(NAMES);
    for (const file of readdirSync(join(ROOT, 'crds'))) {
      const want = parse(readFileSync(join(ROOT, 'crds', file), 'utf8')) as { metadata: { name: string }; spec: unknown };
      const got = rendered.find((o) => o.metadata.name === want.metadata.name)!;
      expect(got['spec'], file).toEqual(want.spec);
      expect(got.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(got.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    }
    const off = await helmOk(['template', 'crds', CRD_CHART, '--set', 'crds.enabled=false']);
    expect(parseObjects(off)).toEqual([]);
    const unkept = parseObjects(await helmOk(['template', 'crds', CRD_CHART, '--set', 'crds.keep=false']));
    expect(unkept.every((o) => o.metadata.annotations?.['helm.sh/resource-policy'] === undefined)).toBe(true);
  });

  it('adopts CRDs an earlier `helm install tokenhub` created, then upgrades them, and keeps them on uninstall', async () => {
    // Before: the tokenhub chart installed the CRDs from its crds/ (no Helm ownership on them).
    await helmOk(['install', 'tokenhub', CHART, '-n', 'tokenhub', '--create-namespace']);
    expect((await crd('modelroutes.tokenhub.io')).metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    const fresh = await helm(['install', 'tokenhub-crds', chartCopy('v1'), '-n', 'tokenhub'], { kubeconfig: cp.kubeconfigPath });
    expect(fresh.code).not.toBe(0);
    expect(fresh.stderr).toMatch(/invalid ownership metadata/);

    // The documented adoption (charts/tokenhub-crds/README.md), then the install succeeds.
    for (const name of NAMES) {
      await kubectlOk(cp, ['label', 'crd', name, 'app.kubernetes.io/managed-by=Helm', '--overwrite']);
      await kubectlOk(cp, ['annotate', 'crd', name, 'meta.helm.sh/release-name=tokenhub-crds', 'meta.helm.sh/release-namespace=tokenhub', '--overwrite']);
    }
    await helmOk(['install', 'tokenhub-crds', chartCopy('v1'), '-n', 'tokenhub']);
    await kubectlOk(cp, ['-n', 'tokenhub', 'apply', '-f', join(ROOT, 'examples/models/doubao-seed-1-6-251015.yaml')]);

    // A release whose ModelRoute CRD gains a printer column: helm upgrade carries it.
    const v2 = chartCopy('v2', (t) =>
      t.replace(
        'additionalPrinterColumns:\n',
        'additionalPrinterColumns:\n        - name: Upgraded\n          type: string\n          jsonPath: .spec.model\n',
      ),
    );
    await helmOk(['upgrade', 'tokenhub-crds', v2, '-n', 'tokenhub']);
    const upgraded = await crd('modelroutes.tokenhub.io');
    expect(upgraded.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name)).toContain('Upgraded');
    expect(await kubectlOk(cp, ['-n', 'tokenhub', 'get', 'modelroutes'])).toMatch(/UPGRADED/);

    // The tokenhub chart upgrades beside it (its crds/ are skipped: the CRDs exist).
    await helmOk(['upgrade', 'tokenhub', CHART, '-n', 'tokenhub']);

    // Uninstalling the CRD release keeps the CRDs and every object.
    const out = await helm(['uninstall', 'tokenhub-crds', '-n', 'tokenhub'], { kubeconfig: cp.kubeconfigPath });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout + out.stderr).toMatch(/resource-policy|kept/);
    for (const name of NAMES) await kubectlOk(cp, ['get', 'crd', name]);
    expect(await kubectlOk(cp, ['-n', 'tokenhub', 'get', 'modelroutes', '-o', 'name'])).toMatch(/modelroute/);
  });
});
