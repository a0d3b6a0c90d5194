/**
 * What a key holder sees of their own key (GET /key) and usage (GET /usage): pure shaping of
 * the compiled key, the counters the store reports and the usage rows. OpenRouter's
 * `GET /api/v1/key` fields first (label, limit, usage, limit_remaining, usage_daily,
 * usage_monthly, rate_limit: what scripts already read), TokenHub's detail after them, all
 * snake_case. Money is in currency units as a number (as OpenRouter does); tokens are integers.
 */
import type { CompiledKey, PeriodLimits, RateLimitPair } from '../../compile/types.js';
import { PERIODS, type Period } from '../../limits/periods.js';
import { keyRateBase } from '../../limits/plan.js';
import type { RateCheck, RateState, UsageRow } from '../../limits/store.js';

/** The key's own rate counters (all models, then per model), as planChecks names them. */
export function keyRateChecks(key: CompiledKey): RateCheck[] {
  const checks: RateCheck[] = [];
  const add = (base: string, scope: RateCheck['scope'], pair: RateLimitPair): void => {
    if (pair.rpm !== undefined) checks.push({ id: `${base}:rpm`, scope, unit: 'requests', limit: pair.rpm, cost: 0 });
    if (pair.tpm !== undefined) checks.push({ id: `${base}:tpm`, scope, unit: 'tokens', limit: pair.tpm, cost: 0 });
  };
  add(keyRateBase(key.id), 'key', key.limits.key);
  for (const [model, pair] of [...key.limits.perModel].sort(([a], [b]) => (a < b ? -1 : 1))) add(keyRateBase(key.id, model), 'key-model', pair);
  return checks;
}

export interface KeyViewInput {
  readonly key: CompiledKey;
  readonly currency: string;
  /** peek() of keyRateChecks(key). */
  readonly rates: readonly RateState[];
  /** Budget counter values by period and unit (what enforcement sees, in-flight reservations included). */
  readonly budgetsUsed: { readonly tokens: Partial<Record<Period, number>>; readonly costNanos: Partial<Record<Period, number>> };
  /** Settled usage rows of this key per period. */
  readonly usage: Readonly<Record<Period, readonly UsageRow[]>>;
  readonly now: Date;
}

const money = (nanos: number): number => Math.round(nanos) / 1e9;
const sum = (rows: readonly UsageRow[], f: (r: UsageRow) => number): number => rows.reduce((n, r) => n + f(r), 0);

export function keyView(input: KeyViewInput): { data: Record<string, unknown> } {
  const { key, usage, budgetsUsed } = input;
  const totalCredit = key.limits.budgets.costNanos.total;
  const creditUsed = budgetsUsed.costNanos.total ?? 0;
  const keyPair = key.limits.key;
  return {
    data: {
      label: key.displayName ?? key.ref.name,
      limit: totalCredit === undefined ? null : money(totalCredit),
      usage: money(sum(usage.total, (r) => r.costNanos)),
      limit_remaining: totalCredit === undefined ? null : money(Math.max(0, totalCredit - creditUsed)),
      usage_daily: money(sum(usage.day, (r) => r.costNanos)),
      usage_monthly: money(sum(usage.month, (r) => r.costNanos)),
      rate_limit: { requests: keyPair.rpm ?? null, tokens: keyPair.tpm ?? null, interval: '1m' },
      id: key.id,
      name: key.ref.name,
      namespace: key.ref.namespace,
      owner: key.owner ?? null,
      fingerprint: key.fingerprint,
      disabled: key.disabled,
      expires_at: key.expiresAt === undefined ? null : new Date(key.expiresAt).toISOString(),
      allowed_models: [...key.allowedModels].sort(),
      quota_policies: key.policies,
      // Shadow policies are reported, never enforced: rate_limits and budgets show enforced ones.
      shadow_quota_policies: key.shadow?.policies ?? [],
      currency: input.currency,
      rate_limits: rateLimitsView(input.rates),
      budgets: {
        tokens: budgetsView({ limits: key.limits.budgets.tokens, used: budgetsUsed.tokens, now: input.now, unit: (n) => n }),
        cost: budgetsView({ limits: key.limits.budgets.costNanos, used: budgetsUsed.costNanos, now: input.now, unit: money }),
      },
      usage_tokens: {
        daily: sum(usage.day, (r) => r.inputTokens + r.outputTokens),
        monthly: sum(usage.month, (r) => r.inputTokens + r.outputTokens),
        total: sum(usage.total, (r) => r.inputTokens + r.outputTokens),
      },
    },
  };
}

type LimitNow = { limit: number; remaining: number; reset_ms: number };

function rateLimitsView(states: readonly RateState[]): Record<string, unknown> {
  const entry = (s: RateState): LimitNow => ({ limit: s.check.limit, remaining: s.remaining, reset_ms: Math.ceil(s.resetMs) });
  const pairOf = (base: string): Record<string, LimitNow> => {
    const out: Record<string, LimitNow> = {};
    for (const s of states) {
      if (s.check.id === `${base}:rpm`) out['requests'] = entry(s);
      if (s.check.id === `${base}:tpm`) out['tokens'] = entry(s);
    }
    return out;
  };
  const keyState = states.find((s) => s.check.scope === 'key');
  const keyBase = keyState?.check.id.replace(/:(rpm|tpm)$/, '');
  const models: Record<string, Record<string, LimitNow>> = {};
  for (const s of states) {
    if (s.check.scope !== 'key-model') continue;
    const base = s.check.id.replace(/:(rpm|tpm)$/, '');
    const model = base.slice(base.indexOf('}:m:') + 4);
    models[model] = pairOf(base);
  }
  return { key: keyBase === undefined ? {} : pairOf(keyBase), models };
}

function budgetsView(opts: { limits: PeriodLimits; used: Partial<Record<Period, number>>; now: Date; unit: (n: number) => number }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const period of PERIODS) {
    const limit = opts.limits[period];
    if (limit === undefined) continue;
    const used = opts.used[period] ?? 0;
    const ends = periodEnd(period, opts.now);
    out[period] = {
      limit: opts.unit(limit),
      used: opts.unit(used),
      remaining: opts.unit(Math.max(0, limit - used)),
      resets_at: ends === undefined ? null : new Date(ends).toISOString(),
    };
  }
  return out;
}

/** When a budget period starts again at zero (UTC); a total credit never does. */
function periodEnd(period: Period, now: Date): number | undefined {
  if (period === 'total') return undefined;
  const [y, m, d] = [now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()];
  return period === 'day' ? Date.UTC(y, m, d + 1) : Date.UTC(y, m + 1, 1);
}

/** GET /usage rows: per model, or one total row; tokens and cost of settled requests. */
export function usageView(opts: { rows: readonly UsageRow[]; groupByModel: boolean }): Record<string, unknown>[] {
  const shape = (model: string | undefined, rows: readonly UsageRow[]): Record<string, unknown> => ({
    ...(model === undefined ? {} : { model }),
    requests: sum(rows, (r) => r.requests),
    input_tokens: sum(rows, (r) => r.inputTokens),
    output_tokens: sum(rows, (r) => r.outputTokens),
    total_tokens: sum(rows, (r) => r.inputTokens + r.outputTokens),
    cost: money(sum(rows, (r) => r.costNanos)),
  });
  if (!opts.groupByModel) return [shape(undefined, opts.rows)];
  return [...opts.rows].sort((a, b) => (a.model < b.model ? -1 : 1)).map((r) => shape(r.model, [r]));
}
