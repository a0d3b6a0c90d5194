/**
 * One identity for a Kubernetes object across compile, the last-good logic, validate and the
 * operator: kind, namespace and name, and one string key for maps (`Kind/namespace/name`).
 */
import type { ObjectRef } from './types.js';

export type ObjectIdentity = Pick<ObjectRef, 'kind' | 'namespace' | 'name'>;

/** `Kind/namespace/name`: unique per object in a cluster, and stable (used as a map key). */
export function identityKey(id: ObjectIdentity): string {
  return `${id.kind}/${id.namespace}/${id.name}`;
}

/** The identity of a parsed object; its namespace defaults to `defaultNamespace`. Undefined without a kind and name. */
export function identityOf(obj: unknown, defaultNamespace: string): ObjectIdentity | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  const namespace = typeof o.metadata.namespace === 'string' ? o.metadata.namespace : defaultNamespace;
  return { kind: o.kind, namespace, name: o.metadata.name };
}

/** identityKey of a parsed object, or undefined when it has no kind or name. */
export function objectKeyOf(obj: unknown, defaultNamespace: string): string | undefined {
  const id = identityOf(obj, defaultNamespace);
  return id === undefined ? undefined : identityKey(id);
}

/** Orders by kind, then namespace, then name (the order of verdicts and reports). */
export function compareIdentity(a: ObjectIdentity, b: ObjectIdentity): number {
  const ka = identityKey(a);
  const kb = identityKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
