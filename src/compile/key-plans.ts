/**
 * What an ApiKey's compile takes from its namespace, its policy names and its model patterns:
 * the policies in force, the models it may call, its limits and its status message. Many keys
 * share those three (at 100k keys a handful of combinations), so each combination is resolved
 * once per compile and shared, not rebuilt per key × policy × model (issue #13). Pure.
 */
import type { ApiKey } from '../schema/api-key.js';
import type { QuotaPolicy } from '../schema/quota-policy.js';
import type { PatternIndex } from './globs.js';
import { Reason, type ReasonCode } from './reasons.js';
import { type PolicyIndex, effectiveLimits } from './policies.js';
import type { CompiledModel, EffectiveLimits } from './types.js';

export type Rejection = { reason: ReasonCode; message: string };

export interface KeyPlan {
  /** The key's own policies, then the platform ceilings it does not name itself. */
  readonly policies: readonly QuotaPolicy[];
  /** CompiledKey.policies. */
  readonly names: readonly string[];
  readonly allowedModels: ReadonlySet<string>;
  readonly limits: EffectiveLimits;
  readonly shadow?: { readonly policies: readonly string[]; readonly limits: EffectiveLimits };
  /** The Ready verdict's message of a key that is neither disabled nor expired. */
  readonly readyMessage: string;
}

export interface PlanContext {
  readonly policies: PolicyIndex;
  readonly patterns: PatternIndex<CompiledModel>;
  readonly ceilings?: readonly QuotaPolicy[];
  /** Model id → the namespaces it is published to; absent: every namespace. */
  readonly publishedTo?: ReadonlyMap<string, ReadonlySet<string>>;
}

/** One compile's plans; make a new one per compile (the policies and models it saw are baked in). */
export class KeyPlans {
  private readonly plans = new Map<string, KeyPlan | Rejection>();

  constructor(private readonly ctx: PlanContext) {}

  /** The plan of a key in `namespace`, or why it cannot have one. */
  of(apiKey: ApiKey, namespace: string): KeyPlan | Rejection {
    const id = planId(namespace, apiKey.spec.quotaPolicies ?? [], apiKey.spec.allowedModels ?? ['*']);
    let plan = this.plans.get(id);
    if (plan === undefined) this.plans.set(id, (plan = planKey(apiKey, namespace, this.ctx)));
    return plan;
  }
}

/**
 * One string per (namespace, policy names, patterns), never the same for two different ones.
 * Joined by newlines (JSON.stringify per key was 8% of a 100k-key compile): unambiguous as no
 * part is empty and none holds a newline (a namespace cannot; a name or pattern that does, which
 * validation leaves possible for policy names, takes the JSON form, which starts with `[`).
 */
function planId(namespace: string, policies: readonly string[], patterns: readonly string[]): string {
  const plain = (list: readonly string[]): boolean => list.every((s) => s !== '' && !s.includes('\n'));
  if (!plain(policies) || !plain(patterns)) return JSON.stringify([namespace, policies, patterns]);
  return `${namespace}\n${policies.join('\n')}\n\n${patterns.join('\n')}`;
}

export function isRejection(plan: KeyPlan | Rejection): plan is Rejection {
  return 'reason' in plan;
}

/** The uncached resolution (KeyPlans.of calls it once per combination). */
export function planKey(apiKey: ApiKey, namespace: string, ctx: PlanContext): KeyPlan | Rejection {
  const own = resolvePolicies(apiKey, namespace, ctx.policies);
  if (!Array.isArray(own)) return own;
  const policies = [...own, ...(ctx.ceilings ?? []).filter((c) => !own.includes(c))];
  const published = (m: CompiledModel): boolean => ctx.publishedTo?.get(m.id)?.has(namespace) ?? true;
  const allowed = allowedModels(apiKey, ctx.patterns).filter(published);
  if (allowed.length === 0) {
    const patterns = (apiKey.spec.allowedModels ?? ['*']).join(', ');
    return { reason: Reason.NoAllowedModels, message: `allowedModels (${patterns}) match no ready ModelRoute published to namespace ${namespace}` };
  }
  const shadow = policies.filter((p) => p.spec.mode === 'Shadow');
  const names = policies.map((p) => (own.includes(p) ? p.metadata.name : `${p.metadata.namespace ?? 'default'}/${p.metadata.name} (ceiling)`));
  const enforced = policies.filter((p) => p.spec.mode !== 'Shadow');
  const ids = new Set(allowed.map((m) => m.id));
  return {
    policies,
    names,
    allowedModels: ids,
    limits: effectiveLimits(enforced, allowed, ctx.patterns),
    ...(shadow.length === 0 ? {} : { shadow: { policies: shadow.map((p) => p.metadata.name), limits: effectiveLimits(shadow, allowed, ctx.patterns) } }),
    readyMessage: `${ids.size} model(s) allowed; ${names.length === 0 ? 'no quota policy (unlimited)' : `policies ${names.join(', ')}`}`,
  };
}

function allowedModels(apiKey: ApiKey, index: PatternIndex<CompiledModel>): CompiledModel[] {
  const selected = new Set<CompiledModel>();
  for (const pattern of apiKey.spec.allowedModels ?? ['*']) for (const m of index.select(pattern)) selected.add(m);
  return [...selected].sort((a, b) => (a.id < b.id ? -1 : 1));
}

function resolvePolicies(apiKey: ApiKey, namespace: string, index: PolicyIndex): QuotaPolicy[] | Rejection {
  const names = apiKey.spec.quotaPolicies ?? [];
  if (names.length === 0) {
    if (index.ambiguousDefaults.has(namespace)) {
      return { reason: Reason.PolicyNotFound, message: 'the key names no QuotaPolicy and the namespace default is ambiguous' };
    }
    const fallback = index.defaults.get(namespace);
    return fallback === undefined ? [] : [fallback];
  }
  const found: QuotaPolicy[] = [];
  for (const name of names) {
    const policy = index.byName.get(`${namespace}/${name}`);
    if (policy === undefined) {
      return { reason: Reason.PolicyNotFound, message: `QuotaPolicy ${namespace}/${name} not found or not ready` };
    }
    found.push(policy);
  }
  return found;
}
