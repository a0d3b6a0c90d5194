/** Step one of compile: validate raw objects, split them by kind, order them deterministically. */
import type { ApiKey } from '../schema/api-key.js';
import type { ModelRoute } from '../schema/model-route.js';
import type { QuotaPolicy } from '../schema/quota-policy.js';
import { ResourceValidator, type TokenHubResource } from '../schema/validate.js';
import { Reason } from './reasons.js';
import type { ObjectRef, SecretInput, Verdict } from './types.js';

export interface Admitted {
  readonly routes: ModelRoute[];
  readonly keys: ApiKey[];
  readonly policies: QuotaPolicy[];
  readonly verdicts: Verdict[];
}

export function refOf(obj: TokenHubResource): ObjectRef {
  return { kind: obj.kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name };
}

export function verdictOf(obj: TokenHubResource, rest: Omit<Verdict, 'ref' | 'generation'>): Verdict {
  const generation = obj.metadata.generation;
  return generation === undefined ? { ref: refOf(obj), ...rest } : { ref: refOf(obj), generation, ...rest };
}

/** Older objects win conflicts; ties break on namespace/name so the outcome never depends on input order. */
export function byAge(a: TokenHubResource, b: TokenHubResource): number {
  return compareAge(ageKey(a), ageKey(b));
}

type AgeKey = { readonly time: string; readonly name: string };

const ageKey = (o: TokenHubResource): AgeKey => ({ time: o.metadata.creationTimestamp ?? '', name: `${o.metadata.namespace ?? ''}/${o.metadata.name}` });

function compareAge(a: AgeKey, b: AgeKey): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Sorts byAge, each sort key built once, not twice per comparison (100k keys: millions of strings). */
function sortByAge<T extends TokenHubResource>(list: T[]): void {
  const keyed = list.map((o) => ({ k: ageKey(o), o }));
  keyed.sort((a, b) => compareAge(a.k, b.k));
  for (let i = 0; i < keyed.length; i++) list[i] = (keyed[i] as { o: T }).o;
}

export function admit(objects: readonly unknown[], validator: ResourceValidator, defaultNamespace: string): Admitted {
  const out: Admitted = { routes: [], keys: [], policies: [], verdicts: [] };
  for (const raw of objects) {
    const result = validator.validate(raw);
    if (!result.ok) {
      out.verdicts.push(invalidVerdict(raw, result.problems, result.kind, defaultNamespace));
      continue;
    }
    const obj = result.resource;
    obj.metadata.namespace ??= defaultNamespace;
    if (obj.kind === 'ModelRoute') out.routes.push(obj);
    else if (obj.kind === 'ApiKey') out.keys.push(obj);
    else out.policies.push(obj);
  }
  sortByAge(out.routes);
  sortByAge(out.keys);
  sortByAge(out.policies);
  return out;
}

function invalidVerdict(raw: unknown, problems: Verdict['problems'] & object, kind: string | undefined, defaultNamespace: string): Verdict {
  const meta = (typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['metadata'] : undefined) as Record<string, unknown> | undefined;
  const name = typeof meta?.['name'] === 'string' ? meta['name'] : '<unnamed>';
  const namespace = typeof meta?.['namespace'] === 'string' ? meta['namespace'] : defaultNamespace;
  const generation = typeof meta?.['generation'] === 'number' ? meta['generation'] : undefined;
  const rawKind = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['kind'] : undefined;
  const ref = { kind: kind ?? (typeof rawKind === 'string' ? rawKind : '<unknown>'), namespace, name };
  const message = `invalid spec: ${problems.length} problem(s), first: ${problems[0]?.message ?? 'unknown'}`;
  return { ref, ...(generation === undefined ? {} : { generation }), ready: false, reason: Reason.InvalidSpec, message, problems };
}

/**
 * The label by which a Secret consents to being read by TokenHub: only Secrets labelled
 * `tokenhub.io/credential: "true"` can be referenced, and the informers watch only those, so a
 * ModelRoute or ApiKey writer cannot exfiltrate any other Secret of the namespace (issue #11).
 */
export const CREDENTIAL_LABEL = 'tokenhub.io/credential';
export const CREDENTIAL_SELECTOR = `${CREDENTIAL_LABEL}=true`;

export type SecretMiss = 'secret' | 'key' | 'consent';

/** Looks up `namespace/name[key]`; the result says what was missing (the Secret, its key, its label). */
export function readSecret(
  secrets: readonly SecretInput[],
  ref: { namespace: string; name: string; key: string },
): { value: string } | { missing: SecretMiss } {
  const secret = secrets.find((s) => s.namespace === ref.namespace && s.name === ref.name);
  if (secret === undefined) return { missing: 'secret' };
  if (secret.labels?.[CREDENTIAL_LABEL] !== 'true') return { missing: 'consent' };
  const value = secret.data[ref.key];
  if (value === undefined) return { missing: 'key' };
  return { value: value.trim() };
}
