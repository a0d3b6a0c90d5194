/**
 * Which counters a request touches: pure. From the key's effective limits and the model's
 * fleet-wide limits, the rate checks and budget checks with their ids and reserved costs.
 */
import type { CompiledKey, CompiledModel } from '../compile/types.js';
import { PERIODS, type Period, periodIds, periodTtlSeconds } from './periods.js';
import type { BudgetCheck, RateCheck } from './store.js';

/** Redis Cluster hash tags: all of a key's counters share a slot; a model's fleet limit has its own. */
export const keyTag = (keyId: string): string => `th:{k:${keyId}}`;
export const modelTag = (model: string): string => `th:{m:${model}}`;
/** The counter id base of a key's own rate limits (all models), or of one key and model. */
export const keyRateBase = (keyId: string, model?: string): string => (model === undefined ? keyTag(keyId) : `${keyTag(keyId)}:m:${model}`);
export const budgetId = (keyId: string, unit: 'tokens' | 'cost', pid: string): string => `${keyTag(keyId)}:b:${unit}:${pid}`;

export interface Estimate {
  readonly inputTokens: number;
  /** max_tokens in force for the request. */
  readonly maxOutputTokens: number;
  readonly costNanos: number;
}

/** A key × model's counter ids: the same strings for every request (made once per compiled key). */
interface RateIds {
  readonly key: { readonly rpm: string; readonly tpm: string };
  readonly keyModel: { readonly rpm: string; readonly tpm: string };
  readonly model: { readonly rpm: string; readonly tpm: string };
}
/** Per compiled key (a reload makes new ones: the old entries go with them), per model id. */
const rateIdCache = new WeakMap<CompiledKey, Map<string, RateIds>>();

function rateIdsOf(key: CompiledKey, model: string): RateIds {
  let byModel = rateIdCache.get(key);
  if (byModel === undefined) {
    byModel = new Map();
    rateIdCache.set(key, byModel);
  }
  let ids = byModel.get(model);
  if (ids === undefined) {
    const pair = (base: string): { rpm: string; tpm: string } => ({ rpm: `${base}:rpm`, tpm: `${base}:tpm` });
    ids = { key: pair(keyRateBase(key.id)), keyModel: pair(keyRateBase(key.id, model)), model: pair(modelTag(model)) };
    byModel.set(model, ids);
  }
  return ids;
}

export function planChecks(opts: { key: CompiledKey; model: CompiledModel; estimate: Estimate; now: Date }): { rates: RateCheck[]; budgets: BudgetCheck[] } {
  const { key, model, estimate, now } = opts;
  const tokens = estimate.inputTokens + estimate.maxOutputTokens;
  const rates: RateCheck[] = [];
  const ids = rateIdsOf(key, model.id);
  const add = (id: { rpm: string; tpm: string }, scope: RateCheck['scope'], limits: { rpm?: number; tpm?: number }): void => {
    if (limits.rpm !== undefined) rates.push({ id: id.rpm, scope, unit: 'requests', limit: limits.rpm, cost: 1 });
    if (limits.tpm !== undefined) rates.push({ id: id.tpm, scope, unit: 'tokens', limit: limits.tpm, cost: tokens });
  };
  add(ids.key, 'key', key.limits.key);
  add(ids.keyModel, 'key-model', key.limits.perModel.get(model.id) ?? {});
  add(ids.model, 'model', model.rateLimits);
  const budgets: BudgetCheck[] = [];
  const { tokens: tokenBudgets, costNanos: costBudgets } = key.limits.budgets;
  let pids: Readonly<Record<Period, string>> | undefined;
  for (const period of PERIODS) {
    // Most keys have one budget or none: date work only for the periods that have one.
    if (tokenBudgets[period] === undefined && costBudgets[period] === undefined) continue;
    pids ??= periodIds(now);
    const ttl = periodTtlSeconds(period, now);
    const pid = pids[period];
    const t = tokenBudgets[period];
    if (t !== undefined)
      budgets.push({ id: budgetId(key.id, 'tokens', pid), unit: 'tokens', period, limit: t, cost: tokens, ...(ttl === undefined ? {} : { ttlSeconds: ttl }) });
    const c = costBudgets[period];
    if (c !== undefined)
      budgets.push({
        id: budgetId(key.id, 'cost', pid),
        unit: 'cost',
        period,
        limit: c,
        cost: estimate.costNanos,
        ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
      });
  }
  return { rates, budgets };
}

/** Settlement deltas: actual − reserved per check (negative refunds). */
export function settlementDeltas(s: {
  rates: readonly RateCheck[];
  budgets: readonly BudgetCheck[];
  actual: { tokens: number; costNanos: number };
  failedAttempt?: boolean;
}): { rates: { check: RateCheck; delta: number }[]; budgets: { check: BudgetCheck; delta: number }[] } {
  const rates = s.rates
    .map((check) => {
      if (check.unit === 'tokens') return { check, delta: s.actual.tokens - check.cost };
      return { check, delta: s.failedAttempt === true && check.scope !== 'model' ? -check.cost : 0 };
    })
    .filter((d) => d.delta !== 0);
  const budgets = s.budgets
    .map((check) => ({ check, delta: (check.unit === 'tokens' ? s.actual.tokens : s.actual.costNanos) - check.cost }))
    .filter((d) => d.delta !== 0);
  return { rates, budgets };
}
