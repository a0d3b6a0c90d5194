/**
 * The chart against a real kube-apiserver: every value set's render passes a server-side
 * dry-run and then applies (CRDs first), the bindings give each ServiceAccount the rights its
 * component needs and no more, and `helm install` / `helm upgrade` work end to end (NOTES
 * included). No controllers run here, so no pod starts: the objects are what is checked.
 */
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { impersonatingKubeconfig, serviceAccountIdentity, startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { CHART, helm, helmBinary, idOf, kubectlOk, loadRules, parseObjects, renderText, type PolicyRule } from './helm.js';
import { VALUE_SETS } from './value-sets.js';

/** Each value set as its own release in its own namespace, so they coexist in one cluster. */
function releaseOf(set: string): string {
  return `th-${set.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

let cp: ControlPlane;

beforeAll(async () => {
  [cp] = await Promise.all([startControlPlane(), helmBinary()]);
  await kubectlOk(cp, ['apply', '--server-side', '-f', join(CHART, 'crds'), '-f', join(import.meta.dirname, 'testdata/servicemonitor-crd.yaml')]);
  await kubectlOk(cp, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  const namespaces = ['team-a', 'team-b', ...Object.keys(VALUE_SETS).map(releaseOf)];
  const items = namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  await kubectlOk(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
}, 900_000);

afterAll(async () => {
  await cp?.stop();
});

describe('rendered manifests on a real API server', () => {
  it.each(Object.entries(VALUE_SETS))('value set "%s": server-side dry-run, then apply', async (name, opts) => {
    const release = releaseOf(name);
    const text = await renderText({ ...opts, release, namespace: release });
    const dryRun = await cp.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: text });
    expect(dryRun.stderr).toBe('');
    expect(dryRun.code).toBe(0);
    await kubectlOk(cp, ['apply', '--server-side', '-f', '-'], text);
    // Everything rendered is now stored, under the names and namespaces rendered.
    const stored = parseObjects(await kubectlOk(cp, ['get', '-f', '-', '-o', 'yaml'], text));
    const items = stored.flatMap((o) => (o.kind === 'List' ? (o['items'] as typeof stored) : [o]));
    expect(items.map(idOf).sort()).toEqual(parseObjects(text).map(idOf).sort());
  });
});

/** `resource verb` pairs as `kubectl auth can-i --list` names them (plural.group[/subresource]). */
function grantsOf(rules: readonly PolicyRule[]): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? []).flatMap((g) =>
      (r.resources ?? []).flatMap((res) => {
        const [base, sub] = res.split('/');
        const name = `${g === '' ? base : `${base}.${g}`}${sub ? `/${sub}` : ''}`;
        return r.verbs.map((v) => `${name} ${v}`);
      }),
    ),
  );
}

/** The resource rules of a `kubectl auth can-i --list` table (non-resource URLs skipped). */
function parseCanIList(table: string): string[] {
  return table
    .split('\n')
    .slice(1)
    .flatMap((line) => {
      if (line.trim() === '' || /^\s/.test(line)) return [];
      const resource = line.split(/\s+/)[0] ?? '';
      const verbs = /\[([^\]]*)\]\s*$/.exec(line)?.[1]?.split(' ').filter(Boolean) ?? [];
      return verbs.map((v) => `${resource} ${v}`);
    });
}

describe('RBAC as bound: each ServiceAccount may do exactly what files/rbac/ says, where it says', () => {
  const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

  /**
   * What `sa` may do in `namespace` beyond what every authenticated identity may (the discovery
   * and self-review rules), polled: the authorizer sees new bindings a moment after the apply.
   */
  async function expectGrants(release: string, sa: string, namespace: string, expected: string[]): Promise<void> {
    const list = async (who: string): Promise<string[]> => {
      const kubeconfig = await impersonatingKubeconfig(cp, serviceAccountIdentity(release, who));
      return parseCanIList(await kubectlOk(cp, ['auth', 'can-i', '--list', '-n', namespace, `--kubeconfig=${kubeconfig}`]));
    };
    const baseline = new Set(await list('nobody'));
    await expect.poll(async () => sorted((await list(sa)).filter((g) => !baseline.has(g))), { timeout: 15_000, interval: 250 }).toEqual(sorted(expected));
  }

  it('default: the release namespace only; nothing anywhere else', async () => {
    const release = releaseOf('default');
    const [operator, fleet, gateway] = ['operator.yaml', 'operator-fleet.yaml', 'gateway.yaml'].map((f) => grantsOf(loadRules(f))) as [
      string[],
      string[],
      string[],
    ];
    await expectGrants(release, `${release}-tokenhub-operator`, release, [...operator, ...fleet]);
    await expectGrants(release, `${release}-tokenhub-operator`, 'team-a', []);
    await expectGrants(release, `${release}-tokenhub-gateway`, release, gateway);
    await expectGrants(release, `${release}-tokenhub-gateway`, 'team-b', []);
  });

  it('default: the internet-facing gateway cannot read a Secret outside the release namespace (kubectl auth can-i)', async () => {
    const release = releaseOf('default');
    const canI = async (...args: string[]): Promise<string> => {
      const res = await cp.kubectl(['auth', 'can-i', ...args, `--as=system:serviceaccount:${release}:${release}-tokenhub-gateway`]);
      return res.stdout.trim();
    };
    // Polled: the authorizer sees new bindings a moment after the apply.
    await expect.poll(() => canI('list', 'secrets', '-n', release), { timeout: 15_000, interval: 250 }).toBe('yes');
    for (const ns of ['kube-system', 'default', 'team-a']) {
      for (const verb of ['list', 'get', 'watch']) expect(await canI(verb, 'secrets', '-n', ns), `${verb} secrets -n ${ns}`).toBe('no');
    }
    expect(await canI('list', 'secrets', '--all-namespaces')).toBe('no');
  });

  it('watchAllNamespaces: the kinds everywhere, the fleet in the release namespace only', async () => {
    const release = releaseOf('watchAllNamespaces');
    const [operator, fleet, gateway] = ['operator.yaml', 'operator-fleet.yaml', 'gateway.yaml'].map((f) => grantsOf(loadRules(f))) as [
      string[],
      string[],
      string[],
    ];
    await expectGrants(release, `${release}-tokenhub-operator`, 'team-a', operator);
    await expectGrants(release, `${release}-tokenhub-operator`, release, [...operator, ...fleet]);
    await expectGrants(release, `${release}-tokenhub-gateway`, 'team-b', gateway);
    await expectGrants(release, `${release}-tokenhub-gateway`, release, gateway);
  });

  it('tenantRoles: a team granted key-editor in its namespace may write ApiKeys there, and no ModelRoute or QuotaPolicy', async () => {
    // (Aggregation into the built-in edit/admin roles is kube-controller-manager's job, not run here.)
    const role = `${releaseOf('default')}-tokenhub-key-editor`;
    await kubectlOk(cp, ['-n', 'team-a', 'create', 'rolebinding', 'team-a-keys', `--clusterrole=${role}`, '--user=alice']);
    const canI = async (verb: string, resource: string, ns = 'team-a'): Promise<string> =>
      (await cp.kubectl(['auth', 'can-i', verb, resource, '-n', ns, '--as=alice'])).stdout.trim();
    await expect.poll(() => canI('create', 'apikeys.tokenhub.io'), { timeout: 15_000, interval: 250 }).toBe('yes');
    expect(await canI('list', 'modelroutes.tokenhub.io')).toBe('yes');
    expect(await canI('create', 'modelroutes.tokenhub.io')).toBe('no');
    expect(await canI('patch', 'quotapolicies.tokenhub.io')).toBe('no');
    expect(await canI('list', 'secrets')).toBe('no');
    expect(await canI('create', 'apikeys.tokenhub.io', 'team-b')).toBe('no');
  });

  it('watchNamespaces: the kinds in the watched namespaces only, the fleet in the release namespace', async () => {
    const release = releaseOf('watchNamespaces');
    const [operator, fleet, gateway] = ['operator.yaml', 'operator-fleet.yaml', 'gateway.yaml'].map((f) => grantsOf(loadRules(f))) as [
      string[],
      string[],
      string[],
    ];
    await expectGrants(release, `${release}-tokenhub-operator`, 'team-a', operator);
    await expectGrants(release, `${release}-tokenhub-operator`, release, fleet);
    await expectGrants(release, `${release}-tokenhub-operator`, 'default', []);
    await expectGrants(release, `${release}-tokenhub-gateway`, 'team-b', gateway);
    await expectGrants(release, `${release}-tokenhub-gateway`, release, []);
    await expectGrants(release, `${release}-tokenhub-gateway`, 'kube-system', []);
  });
});

describe('helm install and upgrade', () => {
  it('installs with Redis, prints how to reach the API, and an upgrade reaches the fleet ConfigMap', async () => {
    const kubeconfig = cp.kubeconfigPath;
    const install = await helm(['install', 'tokenhub', CHART, '-n', 'tokenhub', '--create-namespace', '--set', 'redis.enabled=true'], { kubeconfig });
    expect(install.stderr).not.toMatch(/Error/);
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('STATUS: deployed');
    expect(install.stdout).toContain('kubectl apply -R -f examples/models -f examples/policies -f examples/keys');
    expect(install.stdout).toContain("kubectl -n tokenhub get secret team-search-key -o jsonpath='{.data.api-key}' | base64 -d");
    expect(install.stdout).toContain('kubectl -n tokenhub port-forward service/tokenhub-gateway 8080:80');
    expect(install.stdout).toContain('curl http://localhost:8080/api/v1/chat/completions');
    // Redis is on, so no warning about per-pod limits.
    expect(install.stdout).not.toContain('no Redis is configured');

    const upgrade = await helm(['upgrade', 'tokenhub', CHART, '-n', 'tokenhub', '--reuse-values', '--set', 'gateway.replicas=3'], { kubeconfig });
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const fleetYaml = await kubectlOk(cp, ['-n', 'tokenhub', 'get', 'configmap', 'tokenhub-gateway', '-o', 'jsonpath={.data.fleet\\.yaml}']);
    expect(parse(fleetYaml)).toMatchObject({ replicas: 3, redis: { url: 'redis://tokenhub-redis.tokenhub.svc:6379' } });
  });
});
