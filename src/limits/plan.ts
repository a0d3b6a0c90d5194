/**
 * Which counters a request touches: pure. From the key's effective limits and the model's
 * fleet-wide limits, the rate checks and budget checks with their ids and reserved costs.
 */
import type { CompiledKey, CompiledModel } from '../compile/types.js';
import { PERIODS, type Period, periodIdsAt, periodTtlSecondsAt } from './periods.js';
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
/** A key's budget counter ids for one day's period ids (a new day brings a new periodIds object). */
interface BudgetIds {
  readonly pids: Readonly<Record<Period, string>>;
  readonly tokens: Record<Period, string>;
  readonly cost: Record<Period, string>;
}
/** Per compiled key (a reload makes new ones: the old entries go with them). */
interface KeyIds {
  readonly byModel: Map<string, RateIds>;
  budgets: BudgetIds | undefined;
}
const idCache = new WeakMap<CompiledKey, KeyIds>();

function idsOf(key: CompiledKey): KeyIds {
  let ids = idCache.get(key);
  if (ids === undefined) {
    ids = { byModel: new Map(), budgets: undefined };
    idCache.set(key, ids);
  }
  return ids;
}

function rateIdsOf(key: CompiledKey, model: string): RateIds {
  const { byModel } = idsOf(key);
  let ids = byModel.get(model);
  if (ids === undefined) {
    const pair = (base: string): { rpm: string; tpm: string } => ({ rpm: `${base}:rpm`, tpm: `${base}:tpm` });
    ids = { key: pair(keyRateBase(key.id)), keyModel: pair(keyRateBase(key.id, model)), model: pair(modelTag(model)) };
    byModel.set(model, ids);
  }
  return ids;
}

/** The key's budget ids for the day `nowMs` falls in: strings made once a day, not per request. */
function budgetIdsOf(key: CompiledKey, nowMs: number): BudgetIds {
  const ids = idsOf(key);
  const pids = periodIdsAt(nowMs);
  if (ids.budgets?.pids === pids) return ids.budgets;
  const of = (unit: 'tokens' | 'cost'): Record<Period, string> => ({
    day: budgetId(key.id, unit, pids.day),
    month: budgetId(key.id, unit, pids.month),
    total: budgetId(key.id, unit, pids.total),
  });
  ids.budgets = { pids, tokens: of('tokens'), cost: of('cost') };
  return ids.budgets;
}

/** `now`: epoch ms. */
export function planChecks(opts: { key: CompiledKey; model: CompiledModel; estimate: Estimate; now: number }): { rates: RateCheck[]; budgets: BudgetCheck[] } {
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
  let bids: BudgetIds | undefined;
  for (const period of PERIODS) {
    // Most keys have one budget or none: id and expiry work only for the periods that have one.
    if (tokenBudgets[period] === undefined && costBudgets[period] === undefined) continue;
    bids ??= budgetIdsOf(key, now);
    const ttlSeconds = periodTtlSecondsAt(period, now);
    const t = tokenBudgets[period];
    if (t !== undefined) budgets.push(budgetCheck({ id: bids.tokens[period], unit: 'tokens', period, limit: t, cost: tokens }, ttlSeconds));
    const c = costBudgets[period];
    if (c !== undefined) budgets.push(budgetCheck({ id: bids.cost[period], unit: 'cost', period, limit: c, cost: estimate.costNanos }, ttlSeconds));
  }
  return { rates, budgets };
}

/** A check with its expiry; a total credit's has none (the field is absent, not undefined). */
function budgetCheck(check: { -readonly [F in keyof BudgetCheck]: BudgetCheck[F] }, ttlSeconds: number | undefined): BudgetCheck {
  if (ttlSeconds !== undefined) check.ttlSeconds = ttlSeconds;
  return check;
}

/** A rate check's settlement delta: tokens move to what was used; a failed attempt refunds the key's requests. */
export function rateDelta(check: RateCheck, actual: { tokens: number }, failedAttempt: boolean): number {
  if (check.unit === 'tokens') return actual.tokens - check.cost;
  return failedAttempt && check.scope !== 'model' ? -check.cost : 0;
}

/** A budget check's settlement delta: what was used minus what was reserved. */
export function budgetDelta(check: BudgetCheck, actual: { tokens: number; costNanos: number }): number {
  return (check.unit === 'tokens' ? actual.tokens : actual.costNanos) - check.cost;
}

/** Settlement deltas: actual − reserved per check (negative refunds). */
export function settlementDeltas(s: {
  rates: readonly RateCheck[];
  budgets: readonly BudgetCheck[];
  actual: { tokens: number; costNanos: number };
  failedAttempt?: boolean;
}): { rates: { check: RateCheck; delta: number }[]; budgets: { check: BudgetCheck; delta: number }[] } {
  const failed = s.failedAttempt === true;
  const rates = s.rates.map((check) => ({ check, delta: rateDelta(check, s.actual, failed) })).filter((d) => d.delta !== 0);
  const budgets = s.budgets.map((check) => ({ check, delta: budgetDelta(check, s.actual) })).filter((d) => d.delta !== 0);
  return { rates, budgets };
}
