/**
 * Monitoring wiring: the operator's metrics port, Service and ServiceMonitor; the PrometheusRule
 * (each alert's metrics are what real scrapes of the operator and a gateway serve); the Grafana
 * sidecar ConfigMap; NetworkPolicies that let the named monitoring namespace scrape even when
 * gateway ingress is restricted; and all of it server-side applied to a real API server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../src/operator/metrics.js';
import { GatewayTelemetry } from '../../src/telemetry/index.js';
import { startOperatorTelemetry } from '../../src/telemetry/operator-metrics.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { CHART, type K8sObject, find, kubectlOk, render, renderText } from './helm.js';

const MONITORING = {
  set: [
    'serviceMonitor.enabled=true',
    'prometheusRule.enabled=true',
    'grafanaDashboard.enabled=true',
    'networkPolicy.monitoringNamespace=monitoring',
    'networkPolicy.gatewayIngressNamespaceSelector.team=ingress',
  ],
  apiVersions: ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule'],
};

type Rule = { alert: string; expr: string };
const rulesOf = (objects: K8sObject[]): Rule[] =>
  (find(objects, 'PrometheusRule', 'tokenhub')['spec'] as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const ingressOf = (o: K8sObject) => (o['spec'] as { ingress: { ports: { port: number }[]; from?: unknown[] }[] }).ingress;

describe('operator metrics in the chart', () => {
  it('the operator listens on its metrics port; a Service and a ServiceMonitor select exactly its pods', async () => {
    const objects = await render(MONITORING);
    const dep = find(objects, 'Deployment', 'tokenhub-operator');
    const pod = (
      dep['spec'] as {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: { env: { name: string; value?: string }[]; ports: { name: string; containerPort: number }[] }[] };
        };
      }
    ).template;
    const container = pod.spec.containers[0]!;
    expect(container.env).toContainEqual({ name: 'TOKENHUB_METRICS_PORT', value: '9465' });
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9465 }));
    const svc = find(objects, 'Service', 'tokenhub-operator-metrics')['spec'] as { selector: Record<string, string>; ports: unknown[] };
    expect(pod.metadata.labels).toMatchObject(svc.selector);
    expect(svc.ports).toEqual([{ name: 'metrics', port: 9465, targetPort: 'metrics', protocol: 'TCP' }]);
    const sm = find(objects, 'ServiceMonitor', 'tokenhub-operator-metrics')['spec'] as { selector: { matchLabels: unknown }; endpoints: { port: string }[] };
    expect(sm.selector.matchLabels).toEqual(svc.selector);
    expect(sm.endpoints[0]?.port).toBe('metrics');
    const off = await render({ set: ['operator.metricsPort=0'] });
    expect(off.some((o) => o.metadata.name === 'tokenhub-operator-metrics')).toBe(false);
    expect(JSON.stringify(find(off, 'Deployment', 'tokenhub-operator'))).not.toContain('TOKENHUB_METRICS_PORT');
  });

  it('the PrometheusRule has the four alerts, each over metrics a real scrape serves', async () => {
    const rules = rulesOf(await render(MONITORING));
    expect(rules.map((r) => r.alert)).toEqual([
      'TokenHubOperatorNoLeader',
      'TokenHubOperatorReconcileErrors',
      'TokenHubRedisDegraded',
      'TokenHubBudgetExhaustion',
    ]);
    const m = new OperatorMetrics();
    m.leading = 1;
    m.reconcileErrors = 2;
    const op = await startOperatorTelemetry(m, { env: {}, metricsPort: 0, metricsHost: '127.0.0.1' });
    const gw = await GatewayTelemetry.start({ env: {}, metricsPort: 0, metricsHost: '127.0.0.1' });
    let degraded = true;
    gw.watchStoreState(() => degraded);
    try {
      const opText = await (await fetch(op.metricsUrl as string)).text();
      expect(opText).toMatch(/^tokenhub_operator_leader\{[^}]*\} 1$/m);
      expect(opText).toMatch(/^tokenhub_operator_reconciles_total\{tokenhub_operator_result="error"[^}]*\} 2$/m);
      expect(await (await fetch(gw.metricsUrl as string)).text()).toMatch(/^tokenhub_limiter_degraded\{[^}]*\} 1$/m);
      degraded = false;
      expect(await (await fetch(gw.metricsUrl as string)).text()).toMatch(/^tokenhub_limiter_degraded\{[^}]*\} 0$/m);
    } finally {
      await op.shutdown();
      await gw.shutdown();
    }
    const served = ['tokenhub_operator_leader', 'tokenhub_operator_reconciles_total', 'tokenhub_limiter_degraded', 'tokenhub_requests_total'];
    for (const r of rules) {
      const names = [...r.expr.matchAll(/\b(tokenhub_[a-z_]+)\{/g)].map((x) => x[1]);
      expect(names.length, r.alert).toBeGreaterThan(0);
      for (const n of names) expect(served, `${r.alert}: ${n}`).toContain(n);
      expect(r.expr, r.alert).toContain('namespace="tokenhub"');
    }
    // tokenhub_requests_total and its tokenhub_outcome="quota_exceeded" are the gateway's (test/telemetry).
    expect(rules[3]?.expr).toContain('tokenhub_outcome="quota_exceeded"');
    // Skipped, not failed, where the Prometheus Operator is absent.
    expect((await render({ set: ['prometheusRule.enabled=true'] })).some((o) => o.kind === 'PrometheusRule')).toBe(false);
  });

  it('the Grafana dashboard ConfigMap carries the sidecar label and the dashboard byte for byte', async () => {
    const cm = find(await render(MONITORING), 'ConfigMap', 'tokenhub-dashboard');
    expect(cm.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(cm.metadata.annotations?.['grafana_folder']).toBe('TokenHub');
    expect((cm['data'] as Record<string, string>)['tokenhub.json']).toBe(readFileSync(join(CHART, 'dashboards/tokenhub.json'), 'utf8').replace(/\n$/, ''));
  });

  it('NetworkPolicies: the monitoring namespace may scrape both metrics ports; gateway ingress stays restricted', async () => {
    const objects = await render(MONITORING);
    const mon = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const gw = ingressOf(find(objects, 'NetworkPolicy', 'tokenhub-gateway'));
    expect(gw).toEqual([
      { ports: [{ protocol: 'TCP', port: 8080 }], from: [{ namespaceSelector: { matchLabels: { team: 'ingress' } } }] },
      { ports: [{ protocol: 'TCP', port: 9464 }], from: mon },
    ]);
    const op = ingressOf(find(objects, 'NetworkPolicy', 'tokenhub-operator'));
    expect(op).toEqual([{ ports: [{ protocol: 'TCP', port: 8081 }] }, { ports: [{ protocol: 'TCP', port: 9465 }], from: mon }]);
  });
});

describe('the monitoring objects on a real API server', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    await kubectlOk(cp, [
      'apply',
      '--server-side',
      '-f',
      join(import.meta.dirname, 'testdata/servicemonitor-crd.yaml'),
      '-f',
      join(import.meta.dirname, 'testdata/prometheusrule-crd.yaml'),
    ]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    await kubectlOk(cp, ['create', 'namespace', 'tokenhub']);
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('server-side applies the whole render with monitoring on', async () => {
    const text = await renderText(MONITORING);
    await kubectlOk(cp, ['apply', '--server-side', '-f', '-'], text);
    for (const what of [
      'prometheusrule/tokenhub',
      'servicemonitor/tokenhub-operator-metrics',
      'service/tokenhub-operator-metrics',
      'configmap/tokenhub-dashboard',
    ]) {
      await kubectlOk(cp, ['-n', 'tokenhub', 'get', what]);
    }
  });
});
