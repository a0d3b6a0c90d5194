/**
 * Counters of one operator instance, kept as plain numbers so that the telemetry work can export
 * them (OpenTelemetry observable instruments read them on collection) without this module
 * knowing about OpenTelemetry.
 */
// A type only (erased at build): it lives with its consumer, which must not depend on the operator.
import type { ReconcileRecord } from '../telemetry/operator-metrics.js';

export type { ReconcileRecord };

export interface DurationSummary {
  count: number;
  sumMs: number;
  maxMs: number;
  lastMs: number;
}

export class OperatorMetrics {
  /** Told of every reconcile (the telemetry module turns them into spans); default none. */
  onReconcile: ((r: ReconcileRecord) => void) | undefined;
  /** Whole-state reconciles that ran to the end (with or without write errors). */
  reconciles = 0;
  /** Reconciles that threw before finishing (a bug or an unreadable cache), logged and retried. */
  reconcileErrors = 0;
  readonly reconcileDuration: DurationSummary = { count: 0, sumMs: 0, maxMs: 0, lastMs: 0 };
  /** Status patches sent, skipped because nothing changed, answered 409, or failed. */
  statusWrites = 0;
  statusWritesSkipped = 0;
  statusConflicts = 0;
  statusWriteErrors = 0;
  /** Events for condition transitions posted, and those the API server refused. */
  eventsRecorded = 0;
  eventErrors = 0;
  secretsCreated = 0;
  secretErrors = 0;
  /** Fleet objects created or patched, and fleet reconciles that failed. */
  fleetWrites = 0;
  fleetErrors = 0;
  usageRefreshes = 0;
  usageErrors = 0;
  /** Times this instance became leader. */
  leaderAcquisitions = 0;
  /** 1 while this instance leads, else 0. */
  leading = 0;
  /** `Kind/Reason` → objects with that Ready reason after the last reconcile. */
  objectsByCondition: Record<string, number> = {};

  observeReconcile(ms: number): void {
    const d = this.reconcileDuration;
    d.count += 1;
    d.sumMs += ms;
    d.lastMs = ms;
    d.maxMs = Math.max(d.maxMs, ms);
  }
}
