/**
 * The operator's reconcile metrics, read from its plain counters (src/operator/metrics.ts keeps
 * them as numbers so it needs no OpenTelemetry) by observable instruments at each collection.
 * The shape is structural so this module does not depend on the operator's code.
 */
import { type Meter, type ObservableResult, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { type TelemetryOptions, type TelemetrySdk, startTelemetrySdk } from './setup.js';

/** One finished whole-state reconcile (the operator hands it over; telemetry makes a span of it). */
export interface ReconcileRecord {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly objects: number;
  readonly notReady: number;
  readonly leader: boolean;
  readonly ok: boolean;
}

/** What src/operator/metrics.ts OperatorMetrics holds. */
export interface OperatorCounters {
  /** Set here when traces are exported: one span per reconcile. */
  onReconcile?: ((r: ReconcileRecord) => void) | undefined;
  readonly reconciles: number;
  readonly reconcileErrors: number;
  readonly reconcileDuration: { readonly count: number; readonly sumMs: number; readonly maxMs: number; readonly lastMs: number };
  readonly statusWrites: number;
  readonly statusWritesSkipped: number;
  readonly statusConflicts: number;
  readonly statusWriteErrors: number;
  readonly secretsCreated: number;
  readonly secretErrors: number;
  readonly fleetWrites: number;
  readonly fleetErrors: number;
  readonly usageRefreshes: number;
  readonly usageErrors: number;
  readonly leaderAcquisitions: number;
  /** 1 while this instance leads (absent: not reported), for the chart's no-leader alert. */
  readonly leading?: number;
  /** `Kind/Reason` → objects with that Ready reason after the last reconcile. */
  readonly objectsByCondition: Readonly<Record<string, number>>;
}

const RESULT = 'tokenhub.operator.result';

export function exportOperatorMetrics(meter: Meter, m: OperatorCounters): void {
  const counter = (name: string, unit: string, description: string, observe: (r: ObservableResult) => void): void =>
    meter.createObservableCounter(name, { unit, description }).addCallback(observe);
  const gauge = (name: string, unit: string, description: string, observe: (r: ObservableResult) => void): void =>
    meter.createObservableGauge(name, { unit, description }).addCallback(observe);
  counter('tokenhub.operator.reconciles', '{reconcile}', 'Whole-state reconciles by result.', (r) => {
    r.observe(m.reconciles, { [RESULT]: 'ok' });
    r.observe(m.reconcileErrors, { [RESULT]: 'error' });
  });
  counter('tokenhub.operator.reconcile.time', 's', 'Total time spent reconciling (rate ÷ reconciles rate = mean duration).', (r) =>
    r.observe(m.reconcileDuration.sumMs / 1000),
  );
  gauge('tokenhub.operator.reconcile.last_duration', 's', 'Duration of the last reconcile.', (r) => r.observe(m.reconcileDuration.lastMs / 1000));
  gauge('tokenhub.operator.reconcile.max_duration', 's', 'Longest reconcile since start.', (r) => r.observe(m.reconcileDuration.maxMs / 1000));
  counter('tokenhub.operator.status.writes', '{write}', 'Status patches by result.', (r) => {
    r.observe(m.statusWrites, { [RESULT]: 'written' });
    r.observe(m.statusWritesSkipped, { [RESULT]: 'unchanged' });
    r.observe(m.statusConflicts, { [RESULT]: 'conflict' });
    r.observe(m.statusWriteErrors, { [RESULT]: 'error' });
  });
  counter('tokenhub.operator.secrets', '{secret}', 'Generated key Secrets by result.', (r) => {
    r.observe(m.secretsCreated, { [RESULT]: 'created' });
    r.observe(m.secretErrors, { [RESULT]: 'error' });
  });
  counter('tokenhub.operator.fleet.writes', '{write}', 'Gateway fleet objects written, and failed fleet reconciles.', (r) => {
    r.observe(m.fleetWrites, { [RESULT]: 'written' });
    r.observe(m.fleetErrors, { [RESULT]: 'error' });
  });
  counter('tokenhub.operator.usage.refreshes', '{refresh}', 'ApiKey usage write-backs by result.', (r) => {
    r.observe(m.usageRefreshes, { [RESULT]: 'ok' });
    r.observe(m.usageErrors, { [RESULT]: 'error' });
  });
  counter('tokenhub.operator.leader.acquisitions', '{acquisition}', 'Times this instance became leader.', (r) => r.observe(m.leaderAcquisitions));
  gauge('tokenhub.operator.leader', '1', '1 while this instance is the leader, else 0.', (r) => {
    if (m.leading !== undefined) r.observe(m.leading);
  });
  // A reason seen once stays reported (0 when no object has it): a series never freezes at its last count.
  const seen = new Set<string>();
  gauge('tokenhub.operator.objects', '{object}', 'Objects by kind and Ready reason after the last reconcile.', (r) => {
    for (const key of Object.keys(m.objectsByCondition)) seen.add(key);
    for (const key of seen) {
      const slash = key.indexOf('/');
      const [kind, reason] = slash < 0 ? [key, ''] : [key.slice(0, slash), key.slice(slash + 1)];
      r.observe(m.objectsByCondition[key] ?? 0, { 'tokenhub.object.kind': kind, 'tokenhub.condition.reason': reason });
    }
  });
}

/** For `tokenhub operator`: the SDK from the environment plus the metrics above. */
export async function startOperatorTelemetry(m: OperatorCounters, opts: TelemetryOptions = {}): Promise<TelemetrySdk> {
  const sdk = await startTelemetrySdk({ serviceName: 'tokenhub-operator', ...opts });
  exportOperatorMetrics(sdk.meter, m);
  if (sdk.tracer !== undefined) traceReconciles(sdk.tracer, m);
  return sdk;
}

/** A span per whole-state reconcile, made after the fact from its record (start and duration). */
export function traceReconciles(tracer: Tracer, m: Pick<OperatorCounters, 'onReconcile'>): void {
  m.onReconcile = (r) => {
    const span = tracer.startSpan('reconcile', {
      kind: SpanKind.INTERNAL,
      startTime: r.startedAt,
      attributes: {
        'tokenhub.reconcile.objects': r.objects,
        'tokenhub.reconcile.not_ready': r.notReady,
        'tokenhub.reconcile.leader': r.leader,
      },
    });
    if (!r.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: 'a status, Secret or fleet write failed; retried' });
    span.end(r.startedAt + r.durationMs);
  };
}
