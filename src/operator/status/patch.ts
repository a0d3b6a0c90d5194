/**
 * The JSON merge patch that turns the live status into the desired one, or nothing when they
 * already agree (so an unchanged object is never written). Pure.
 */
import { isDeepStrictEqual } from 'node:util';
import type { StatusFields } from './desired.js';

type Json = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON as the API server would store it: no `undefined` members. */
export function normalise<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(normalise(a), normalise(b));
}

/**
 * Only the top-level fields named in `desired` are touched (another writer's fields, say usage
 * next to conditions, stay as they are). Inside a named object field we own every member, so
 * members that disappeared become `null`; arrays are replaced whole (merge patch semantics).
 */
export function statusPatch(current: unknown, desired: StatusFields): Json | undefined {
  const live = isPlainObject(current) ? current : {};
  const patch = diffObject(live, desired, { ownAll: false });
  return Object.keys(patch).length === 0 ? undefined : patch;
}

function diffObject(live: Json, want: Json, opts: { ownAll: boolean }): Json {
  const patch: Json = {};
  for (const [k, v] of Object.entries(want)) {
    const was = live[k];
    if (v === undefined) {
      if (was !== undefined) patch[k] = null;
    } else if (isPlainObject(v) && isPlainObject(was)) {
      const inner = diffObject(was, v, { ownAll: true });
      if (Object.keys(inner).length > 0) patch[k] = inner;
    } else if (!jsonEqual(was, v)) {
      patch[k] = normalise(v);
    }
  }
  if (opts.ownAll) for (const k of Object.keys(live)) if (!(k in want)) patch[k] = null;
  return patch;
}
