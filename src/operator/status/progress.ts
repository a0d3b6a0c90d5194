/**
 * The conditions GitOps tools read besides Ready. kstatus (Flux's health checks, `kpt live
 * status`, cli-utils) ignores Ready on a custom resource: it reads `status.observedGeneration`
 * against `metadata.generation`, then `Reconciling=True` (InProgress) and `Stalled=True`
 * (Failed), and calls everything else Current. So every verdict also says whether the operator
 * is still working on the object (Reconciling) or cannot make progress without a change from
 * outside (Stalled). Both are always present, False when they do not apply, so an old True
 * never lingers. Pure.
 */
import { progressOfReason, type ReasonAttributes } from '../../compile/reasons.js';
import type { Verdict } from '../../compile/types.js';
import type { DesiredCondition } from './conditions.js';

export const RECONCILING = 'Reconciling';
export const STALLED = 'Stalled';

/** The reason a False Reconciling or Stalled condition carries. */
export const SETTLED = 'Reconciled';

export type Progress = ReasonAttributes['progress'];

/**
 * The reason decides (its `progress` attribute in compile/reasons.ts): CredentialPending is the
 * operator's own next step (Reconciling), KeyDisabled is what the object asked for (neither),
 * every other rejection (a bad spec, a conflict, a missing Secret, fallback or policy, an
 * expired key) needs someone to change an object: Stalled, which kstatus reads as Failed and
 * Argo CD (with our health check) as Degraded.
 */
export function progressOf(verdict: Pick<Verdict, 'ready' | 'reason'>): Progress {
  if (verdict.ready) return 'ready';
  const progress = progressOfReason(verdict.reason);
  return progress === 'ready' ? 'stalled' : progress;
}

/** Reconciling and Stalled for a verdict, with the generation they describe. */
export function progressConditions(verdict: Verdict): DesiredCondition[] {
  const progress = progressOf(verdict);
  const gen = verdict.generation === undefined ? {} : { observedGeneration: verdict.generation };
  const cond = (type: string, on: boolean): DesiredCondition =>
    on ? { type, status: 'True', reason: verdict.reason, message: verdict.message, ...gen } : { type, status: 'False', reason: SETTLED, message: '', ...gen };
  return [cond(RECONCILING, progress === 'reconciling'), cond(STALLED, progress === 'stalled')];
}
