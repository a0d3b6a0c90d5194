/** QuotaPolicies: accept them, find each namespace's default, and merge several into effective limits. */
import type { QuotaPolicy } from '../schema/quota-policy.js';
import { parseNanos } from '../billing/money.js';
import { PatternIndex } from './globs.js';
import { Reason } from './reasons.js';
import { verdictOf } from './objects.js';
import type { CompiledModel, EffectiveLimits, PeriodLimits, RateLimitPair, Verdict } from './types.js';

export interface PolicyIndex {
  /** `namespace/name` → policy in force. */
  readonly byName: ReadonlyMap<string, QuotaPolicy>;
  /** namespace → its single default policy. */
  readonly defaults: ReadonlyMap<string, QuotaPolicy>;
  /** namespaces whose default is ambiguous (two or more defaults). */
  readonly ambiguousDefaults: ReadonlySet<string>;
}

/** Returns the index and a function giving each policy's verdict once keys are known. */
export function indexPolicies(policies: readonly QuotaPolicy[]): {
  index: PolicyIndex;
  verdicts: (keysUsing: (p: QuotaPolicy) => number) => Verdict[];
} {
  const defaultsByNs = new Map<string, QuotaPolicy[]>();
  for (const p of policies) {
    if (p.spec.default !== true) continue;
    const ns = p.metadata.namespace ?? 'default';
    defaultsByNs.set(ns, [...(defaultsByNs.get(ns) ?? []), p]);
  }
  const duplicated = new Set([...defaultsByNs.values()].filter((list) => list.length > 1).flat());
  const byName = new Map<string, QuotaPolicy>();
  const defaults = new Map<string, QuotaPolicy>();
  const ambiguousDefaults = new Set<string>();
  for (const p of policies) {
    const ns = p.metadata.namespace ?? 'default';
    if (duplicated.has(p)) {
      ambiguousDefaults.add(ns);
      continue;
    }
    byName.set(`${ns}/${p.metadata.name}`, p);
    if (p.spec.default === true) defaults.set(ns, p);
  }
  const verdicts = (keysUsing: (p: QuotaPolicy) => number): Verdict[] =>
    policies.map((p) => {
      if (!duplicated.has(p)) {
        const keys = keysUsing(p);
        return verdictOf(p, { ready: true, reason: Reason.Ready, message: `applies to ${keys} key(s)`, status: { keys } });
      }
      const others = (defaultsByNs.get(p.metadata.namespace ?? 'default') ?? []).filter((o) => o !== p);
      const names = others.map((o) => o.metadata.name).join(', ');
      return verdictOf(p, {
        ready: false,
        reason: Reason.DuplicateDefaultPolicy,
        message: `more than one default QuotaPolicy in this namespace (also: ${names}); none of them is used as the default`,
        status: { keys: 0 },
      });
    });
  return { index: { byName, defaults, ambiguousDefaults }, verdicts };
}

const minOf = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

function mergePair(a: RateLimitPair, b: RateLimitPair): RateLimitPair {
  const rpm = minOf(a.rpm, b.rpm);
  const tpm = minOf(a.tpm, b.tpm);
  return { ...(rpm === undefined ? {} : { rpm }), ...(tpm === undefined ? {} : { tpm }) };
}

function mergePeriods(a: PeriodLimits, b: PeriodLimits): PeriodLimits {
  const out: { day?: number; month?: number; total?: number } = {};
  for (const p of ['day', 'month', 'total'] as const) {
    const v = minOf(a[p], b[p]);
    if (v !== undefined) out[p] = v;
  }
  return out;
}

/**
 * Keys that name the same policies and may call the same models get the same limits: computed
 * once per compile and shared (frozen), not rebuilt per key. At 100k keys the per-key objects were
 * much of the garbage collector's work. Keyed by the first policy object, which lives one compile.
 */
const sharedLimits = new WeakMap<QuotaPolicy, Map<string, EffectiveLimits>>();

/** The most restrictive of several policies, per limit, for the models a key may call. */
export function effectiveLimits(
  policies: readonly QuotaPolicy[],
  models: readonly CompiledModel[],
  patterns: PatternIndex<CompiledModel> = new PatternIndex(models),
): EffectiveLimits {
  const first = policies[0];
  if (first === undefined) return computeLimits(policies, models, patterns);
  const names = policies.map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`).join('|');
  const key = `${names}#${models.map((m) => [m.id, ...m.aliases].join(',')).join('|')}`;
  let byKey = sharedLimits.get(first);
  if (byKey === undefined) sharedLimits.set(first, (byKey = new Map<string, EffectiveLimits>()));
  let limits = byKey.get(key);
  if (limits === undefined) byKey.set(key, (limits = computeLimits(policies, models, patterns)));
  return limits;
}

function computeLimits(policies: readonly QuotaPolicy[], models: readonly CompiledModel[], patterns: PatternIndex<CompiledModel>): EffectiveLimits {
  let key: RateLimitPair = {};
  let tokens: PeriodLimits = {};
  let costNanos: PeriodLimits = {};
  const perModel = new Map<string, RateLimitPair>();
  let maxInFlight: number | undefined;
  for (const p of policies) {
    key = mergePair(key, p.spec.rateLimits ?? {});
    maxInFlight = minOf(maxInFlight, p.spec.concurrency?.maxInFlight);
    tokens = mergePeriods(tokens, p.spec.budgets?.tokens ?? {});
    const cost = p.spec.budgets?.cost ?? {};
    costNanos = mergePeriods(costNanos, {
      ...(cost.day === undefined ? {} : { day: parseNanos(cost.day) }),
      ...(cost.month === undefined ? {} : { month: parseNanos(cost.month) }),
      ...(cost.total === undefined ? {} : { total: parseNanos(cost.total) }),
    });
    for (const model of models) {
      const entry = (p.spec.modelRateLimits ?? []).find((m) => patterns.matches(m.model, model));
      if (entry === undefined) continue;
      perModel.set(model.id, mergePair(perModel.get(model.id) ?? {}, { rpm: entry.rpm, tpm: entry.tpm }));
    }
  }
  return { key, perModel, budgets: { tokens, costNanos }, ...(maxInFlight === undefined ? {} : { maxInFlight }) };
}
