/**
 * Shadow quotas: a key's Shadow QuotaPolicies are checked like enforced ones, on counters of
 * their own (the key id plus `#shadow`, so they never touch what is enforced), and settled with
 * the real usage; a request they would have refused goes ahead all the same and is reported
 * (`x-tokenhub-shadow-limited`, the access log, a metric). A shadow denial reserves nothing, as
 * an enforced one would not, so the shadow counters show what enforcement would have let through.
 * A shadow check never fails a request: store errors are logged and the check is skipped.
 * It runs beside the enforced admit (the Redis store pipelines both: no extra round trip), so a
 * request the enforced limits refuse has its shadow reservation given back (dropShadow), as if
 * it had not been checked; its settlement goes in the same batch as the enforced one.
 */
import type { CompiledKey, CompiledModel } from '../../compile/types.js';
import { planChecks } from '../../limits/plan.js';
import type { AdmitRequest, Denial, LimitStore } from '../../limits/store.js';

export const SHADOW_HEADER = 'x-tokenhub-shadow-limited';

export interface ShadowOutcome {
  /** The shadow reservation to settle (admitted), or none (limited, or no shadow policy). */
  readonly admit?: AdmitRequest;
  /** What would have refused the request, e.g. `key:rpm`, `key-model:tpm`, `budget:tokens:day`. */
  readonly limited?: string;
}

interface ShadowDeps {
  readonly store: LimitStore;
  readonly log: { error(o: object, m: string): void };
}

export async function checkShadow(
  deps: ShadowDeps,
  opts: { key: CompiledKey; model: CompiledModel; estimate: Parameters<typeof planChecks>[0]['estimate']; reservationId: string; now: number },
): Promise<ShadowOutcome> {
  const shadow = opts.key.shadow;
  if (shadow === undefined) return {};
  const keyId = `${opts.key.id}#shadow`;
  // The model's fleet-wide limit is the platform's, not a policy's: enforced only, never shadowed.
  const plan = planChecks({
    key: { ...opts.key, id: keyId, limits: shadow.limits },
    model: { ...opts.model, rateLimits: {} },
    estimate: opts.estimate,
    now: opts.now,
  });
  if (plan.rates.length + plan.budgets.length === 0) return {};
  const admit: AdmitRequest = { requestId: `${opts.reservationId}#shadow`, keyId, ...plan };
  try {
    const result = await deps.store.admit(admit, opts.now);
    return result.allowed ? { admit } : { limited: describeDenial(result.denial) };
  } catch (err) {
    deps.log.error({ err: { message: (err as Error).message } }, 'shadow quota check failed (request not affected)');
    return {};
  }
}

/** Settles a shadow reservation with the request's real use (or refunds a failed attempt). */
export async function settleShadow(
  deps: ShadowDeps,
  opts: { shadow: ShadowOutcome | undefined; actual: { tokens: number; costNanos: number }; failedAttempt?: boolean; now: number },
): Promise<void> {
  const admit = opts.shadow?.admit;
  if (admit === undefined) return;
  try {
    await deps.store.settle({ reservation: admit, actual: opts.actual, ...(opts.failedAttempt === true ? { failedAttempt: true } : {}) }, opts.now);
  } catch (err) {
    deps.log.error({ err: { message: (err as Error).message } }, 'shadow quota settlement failed');
  }
}

/** The enforced limits refused the request: its shadow reservation, if made, is given back in full. Never rejects. */
export function dropShadow(deps: ShadowDeps, opts: { shadow: Promise<ShadowOutcome>; now: number }): void {
  void opts.shadow.then((shadow) => settleShadow(deps, { shadow, actual: { tokens: 0, costNanos: 0 }, failedAttempt: true, now: opts.now }));
}

function describeDenial(d: Denial): string {
  if (d.kind === 'budget') return `budget:${d.check.unit}:${d.check.period}`;
  return `${d.check.scope}:${d.check.unit === 'requests' ? 'rpm' : 'tpm'}`;
}
