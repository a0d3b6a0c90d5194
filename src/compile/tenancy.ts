/**
 * The trust model, as compile enforces it (README "Security model"): model ids are published
 * by the platform's namespaces only, each model reaches only the namespaces it is published to,
 * and a platform QuotaPolicy marked `ceiling` bounds every key whatever its own policies say.
 */
import type { ModelRoute } from '../schema/model-route.js';
import type { QuotaPolicy } from '../schema/quota-policy.js';
import { verdictOf } from './objects.js';
import { Reason } from './reasons.js';
import type { Verdict } from './types.js';

export interface Tenancy {
  /**
   * Namespaces whose ModelRoutes are served and whose QuotaPolicies may set ceilings. Omitted or
   * empty: every namespace (the file-based demo and `tokenhub validate`); the chart names them.
   */
  readonly platformNamespaces?: readonly string[];
}

const nsOf = (o: ModelRoute | QuotaPolicy): string => o.metadata.namespace ?? 'default';

export function isPlatform(tenancy: Tenancy, namespace: string): boolean {
  const list = tenancy.platformNamespaces ?? [];
  return list.length === 0 || list.includes(namespace);
}

function notPlatform(tenancy: Tenancy, obj: ModelRoute | QuotaPolicy, what: string): Verdict {
  const where = (tenancy.platformNamespaces ?? []).join(', ');
  const message = `${what} only from the platform namespaces (${where}); namespace ${nsOf(obj)} is not one of them`;
  return verdictOf(obj, {
    ready: false,
    reason: Reason.NotPlatformNamespace,
    message,
    ...(obj.kind === 'ModelRoute' ? { status: { model: obj.spec.model } } : { status: { keys: 0 } }),
  });
}

/** ModelRoutes outside the platform namespaces are refused before they can claim a model id. */
export function fenceRoutes(routes: readonly ModelRoute[], tenancy: Tenancy): { served: ModelRoute[]; verdicts: Verdict[] } {
  const served: ModelRoute[] = [];
  const verdicts: Verdict[] = [];
  for (const r of routes) {
    if (isPlatform(tenancy, nsOf(r))) served.push(r);
    else verdicts.push(notPlatform(tenancy, r, 'ModelRoutes are served'));
  }
  return { served, verdicts };
}

/** Ceiling policies outside the platform namespaces are refused (and not used at all). */
export function fencePolicies(policies: readonly QuotaPolicy[], tenancy: Tenancy): { accepted: QuotaPolicy[]; ceilings: QuotaPolicy[]; verdicts: Verdict[] } {
  const accepted: QuotaPolicy[] = [];
  const ceilings: QuotaPolicy[] = [];
  const verdicts: Verdict[] = [];
  for (const p of policies) {
    if (p.spec.ceiling !== true) accepted.push(p);
    else if (!isPlatform(tenancy, nsOf(p))) verdicts.push(notPlatform(tenancy, p, 'ceiling QuotaPolicies are honoured'));
    else {
      accepted.push(p);
      ceilings.push(p);
    }
  }
  return { accepted, ceilings, verdicts };
}

/** Model id → namespaces it is published to; a model absent from the map is published everywhere. */
export function publications(routes: readonly ModelRoute[]): Map<string, ReadonlySet<string>> {
  const out = new Map<string, ReadonlySet<string>>();
  for (const r of routes) if (r.spec.publishTo !== undefined) out.set(r.spec.model, new Set(r.spec.publishTo));
  return out;
}
