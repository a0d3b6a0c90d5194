/** The operator's plain counters, exported as OpenTelemetry metrics (here through the scrape endpoint). */
import { afterAll, describe, expect, it } from 'vitest';
import { type OperatorCounters, startOperatorTelemetry } from '../../src/telemetry/operator-metrics.js';
import type { TelemetrySdk } from '../../src/telemetry/setup.js';
import { dashboardRefs } from './dashboard-refs.js';

let sdk: TelemetrySdk | undefined;
afterAll(async () => sdk?.shutdown());

describe('operator metrics', () => {
  it('reads the counters at each scrape', async () => {
    const m: { -readonly [K in keyof OperatorCounters]: OperatorCounters[K] } = {
      reconciles: 4, reconcileErrors: 1, reconcileDuration: { count: 4, sumMs: 250, maxMs: 120, lastMs: 30 },
      statusWrites: 7, statusWritesSkipped: 9, statusConflicts: 1, statusWriteErrors: 0, secretsCreated: 2, secretErrors: 0,
      fleetWrites: 3, fleetErrors: 0, usageRefreshes: 5, usageErrors: 1, leaderAcquisitions: 1,
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
