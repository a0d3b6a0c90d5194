/**
 * Status conditions the way cert-manager and Envoy Gateway keep them: one entry per type, and
 * `lastTransitionTime` moves only when the condition really changed (status or reason), so
 * `kubectl get` ages and alerting on transitions mean something. Pure.
 */
import type { Condition } from '../../schema/common.js';

/** A condition as the reconciler wants it; the time is filled in by mergeConditions. */
export type DesiredCondition = Omit<Condition, 'lastTransitionTime'>;

/**
 * Merges `desired` into `current`: conditions of other types are kept in their place, a
 * condition whose status and reason are unchanged keeps its lastTransitionTime (its message
 * and observedGeneration are still refreshed), a new or changed one gets `now`.
 */
export function mergeConditions(current: readonly Condition[] | undefined, desired: readonly DesiredCondition[], now: Date): Condition[] {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const byType = new Map(desired.map((d) => [d.type, d]));
  const merged: Condition[] = [];
  for (const old of current ?? []) {
    const want = byType.get(old.type);
    if (want === undefined) {
      merged.push(old);
      continue;
    }
    byType.delete(old.type);
    const transitioned = old.status !== want.status || old.reason !== want.reason;
    merged.push({ ...want, lastTransitionTime: transitioned ? stamp : old.lastTransitionTime });
  }
  for (const want of byType.values()) merged.push({ ...want, lastTransitionTime: stamp });
  return merged;
}

/** The condition of one type, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
