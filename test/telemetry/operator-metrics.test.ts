/** The operator's plain counters, exported as OpenTelemetry metrics (here through the scrape endpoint). */
import { afterAll, describe, expect, it } from 'vitest';
import { type OperatorCounters, startOperatorTelemetry } from '../../src/telemetry/operator-metrics.js';
import type { TelemetrySdk } from '../../src/telemetry/setup.js';
import { dashboardRefs } from './dashboard-refs.js';
import { spansOf, startOtlpReceiver } from './otlp-receiver.js';

let sdk: TelemetrySdk | undefined;
afterAll(async () => sdk?.shutdown());

describe('operator metrics', () => {
  it('reads the counters at each scrape', async () => {
    const m: { -readonly [K in keyof OperatorCounters]: OperatorCounters[K] } = {
      reconciles: 4,
      reconcileErrors: 1,
      reconcileDuration: { count: 4, sumMs: 250, maxMs: 120, lastMs: 30 },
      statusWrites: 7,
      statusWritesSkipped: 9,
      statusConflicts: 1,
      statusWriteErrors: 0,
      secretsCreated: 2,
      secretErrors: 0,
      fleetWrites: 3,
      fleetErrors: 0,
      usageRefreshes: 5,
      usageErrors: 1,
      leaderAcquisitions: 1,
      objectsByCondition: { 'ModelRoute/Ready': 10, 'ApiKey/PolicyNotFound': 1 },
    };
    sdk = await startOperatorTelemetry(m, { env: {}, metricsPort: 0, metricsHost: '127.0.0.1' });
    const scrape = async (): Promise<string> => (await fetch(sdk?.metricsUrl as string)).text();
    const value = (text: string, prefix: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(prefix));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    let text = await scrape();
    expect(value(text, 'target_info{service_name="tokenhub-operator"')).toBe(1);
    expect(value(text, 'tokenhub_operator_reconciles_total{tokenhub_operator_result="ok"')).toBe(4);
    expect(value(text, 'tokenhub_operator_reconciles_total{tokenhub_operator_result="error"')).toBe(1);
    expect(value(text, 'tokenhub_operator_reconcile_time_total{')).toBe(0.25);
    expect(value(text, 'tokenhub_operator_status_writes_total{tokenhub_operator_result="conflict"')).toBe(1);
    expect(value(text, 'tokenhub_operator_objects{tokenhub_object_kind="ApiKey",tokenhub_condition_reason="PolicyNotFound"')).toBe(1);
    m.reconciles = 6;
    m.objectsByCondition = { 'ModelRoute/Ready': 11 };
    text = await scrape();
    expect(value(text, 'tokenhub_operator_reconciles_total{tokenhub_operator_result="ok"')).toBe(6);
    expect(value(text, 'tokenhub_operator_objects{tokenhub_object_kind="ModelRoute",tokenhub_condition_reason="Ready"')).toBe(11);
    expect(value(text, 'tokenhub_operator_objects{tokenhub_object_kind="ApiKey"')).toBe(0);
    // The dashboard's operator row asks only for what is served here.
    const { metrics, labels } = dashboardRefs((expr) => expr.includes('tokenhub_operator_'));
    expect(metrics.size).toBe(4);
    for (const name of metrics) expect(text, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    for (const label of labels) expect(text, label).toContain(`${label}="`);
  });
});

describe('operator traces', () => {
  it('exports one span per reconcile, with its duration, object counts and failure status', async () => {
    const receiver = await startOtlpReceiver();
    const m: OperatorCounters = {
      reconciles: 0,
      reconcileErrors: 0,
      reconcileDuration: { count: 0, sumMs: 0, maxMs: 0, lastMs: 0 },
      statusWrites: 0,
      statusWritesSkipped: 0,
      statusConflicts: 0,
      statusWriteErrors: 0,
      secretsCreated: 0,
      secretErrors: 0,
      fleetWrites: 0,
      fleetErrors: 0,
      usageRefreshes: 0,
      usageErrors: 0,
      leaderAcquisitions: 0,
      objectsByCondition: {},
    };
    const traced = await startOperatorTelemetry(m, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRIC_EXPORT_INTERVAL: '3600000' },
    });
    try {
      expect(m.onReconcile).toBeTypeOf('function');
      m.onReconcile?.({ startedAt: 1_800_000_000_000, durationMs: 42, objects: 15, notReady: 2, leader: true, ok: true });
      m.onReconcile?.({ startedAt: 1_800_000_001_000, durationMs: 7, objects: 15, notReady: 2, leader: true, ok: false });
      await traced.flush();
      const spans = spansOf(receiver.received.filter((r) => r.path === '/v1/traces').map((r) => r.json));
      expect(spans.map((s) => s.name)).toEqual(['reconcile', 'reconcile']);
      expect(spans[0]?.attributes).toMatchObject({ 'tokenhub.reconcile.objects': 15, 'tokenhub.reconcile.not_ready': 2, 'tokenhub.reconcile.leader': true });
      expect(spans[0]?.kind).toBe(1);
      expect(spans[0]?.status.code ?? 0).toBe(0);
      expect(spans[1]?.status.code).toBe(2);
      // The span carries the reconcile's own start and duration, not the time it was exported.
      const raw = JSON.stringify(receiver.received.filter((r) => r.path === '/v1/traces').map((r) => r.json));
      expect(raw).toContain('"startTimeUnixNano":"1800000000000000000"');
      expect(raw).toContain('"endTimeUnixNano":"1800000000042000000"');
    } finally {
      await traced.shutdown();
      await receiver.close();
    }
  });
});
