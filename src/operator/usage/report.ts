/**
 * An ApiKey's `status.usage`, pure: this month's usage rows summed over models, and what is left
 * of the key's budgets (the tightest of its day, month and total limits), in the same units the
 * gateway charges. Unlimited budgets leave `remaining*` out.
 */
import type { EffectiveLimits, PeriodLimits } from '../../compile/types.js';
import { formatNanos } from '../../billing/money.js';
import { PERIODS, type Period } from '../../limits/periods.js';
import type { UsageRow } from '../../limits/store.js';
import type { KeyUsageStatus } from '../../schema/api-key.js';
import { jsonEqual } from '../status/patch.js';

/** What each of the key's budget counters holds now, by unit and period. */
export type BudgetUse = Readonly<Record<'tokens' | 'cost', Partial<Record<Period, number>>>>;

export interface UsageReportInput {
  /** The reporting period id, e.g. `m2026-11`. */
  readonly period: string;
  readonly rows: readonly UsageRow[];
  readonly budgets: EffectiveLimits['budgets'];
  readonly used: BudgetUse;
  readonly now: Date;
}

/** The smallest `limit − used` over the periods that have a limit, never below zero. */
export function remaining(limits: PeriodLimits, used: Partial<Record<Period, number>>): number | undefined {
  let least: number | undefined;
  for (const p of PERIODS) {
    const limit = limits[p];
    if (limit === undefined) continue;
    const left = Math.max(0, limit - (used[p] ?? 0));
    least = least === undefined ? left : Math.min(least, left);
  }
  return least;
}

export function usageStatus(input: UsageReportInput): KeyUsageStatus {
  const sum = { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 };
  for (const r of input.rows) {
    sum.requests += r.requests;
    sum.inputTokens += r.inputTokens;
    sum.outputTokens += r.outputTokens;
    sum.costNanos += r.costNanos;
  }
  const tokensLeft = remaining(input.budgets.tokens, input.used.tokens);
  const costLeft = remaining(input.budgets.costNanos, input.used.cost);
  return {
    period: input.period,
    requests: sum.requests,
    inputTokens: sum.inputTokens,
    outputTokens: sum.outputTokens,
    cost: formatNanos(sum.costNanos),
    ...(tokensLeft === undefined ? {} : { remainingTokens: String(tokensLeft) }),
    ...(costLeft === undefined ? {} : { remainingCost: formatNanos(costLeft) }),
    updatedAt: input.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** Keeps the old updatedAt when nothing else moved: a status write just to bump a time is noise. */
export function withStableTime(previous: KeyUsageStatus | undefined, next: KeyUsageStatus): KeyUsageStatus {
  if (previous?.updatedAt === undefined) return next;
  const { updatedAt: _a, ...a } = previous;
  const { updatedAt: _b, ...b } = next;
  return jsonEqual(a, b) ? { ...next, updatedAt: previous.updatedAt } : next;
}
