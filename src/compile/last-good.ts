/**
 * "An invalid object never replaces the last good config": compile, and where an object that
 * used to be good has changed into one compile rejects (a bad spec, but also a fallback to a
 * missing model, a model id another route already serves, a missing Secret or policy…), compile
 * again with its last good version in its place. Disabling or expiring a key is a change that
 * takes effect, not one to hold back. Pure: the memory of good versions goes in and comes out.
 */
import type { Compiler } from './compile.js';
import { isInForce } from './reasons.js';
import { identityKey, objectKeyOf } from './identity.js';
import type { CompileInput, CompileOptions, CompileResult, Verdict } from './types.js';

export type LastGood = ReadonlyMap<string, unknown>;

const verdictKey = (v: Verdict): string => identityKey(v.ref);

/** JSON with object keys sorted, so that the same content always reads the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Whether the object differs from its remembered version in what compile reads. */
function changed(previous: unknown, current: unknown): boolean {
  const view = (o: unknown): string => {
    const { spec, metadata } = (o ?? {}) as { spec?: unknown; metadata?: { labels?: unknown; annotations?: unknown } };
    return canonical([spec, metadata?.labels, metadata?.annotations]);
  };
  return view(previous) !== view(current);
}

export function compileKeepingLastGood(
  compiler: Compiler,
  input: CompileInput,
  opts: CompileOptions & { lastGood: LastGood },
): CompileResult & { lastGood: LastGood; heldBack: readonly string[] } {
  const ns = opts.defaultNamespace ?? 'default';
  const first = compiler(input, opts);
  const currentByKey = new Map<string, unknown>();
  for (const o of input.objects) {
    const k = objectKeyOf(o, ns);
    if (k !== undefined) currentByKey.set(k, o);
  }
  const held = new Set(
    first.verdicts
      // A reason in force (a key disabled or expired) is what the change asked for: not held back.
      .filter((v) => !v.ready && !isInForce(v.reason))
      .map(verdictKey)
      .filter((k) => opts.lastGood.has(k) && changed(opts.lastGood.get(k), currentByKey.get(k))),
  );
  const objects = input.objects.map((o) => {
    const k = objectKeyOf(o, ns);
    return k !== undefined && held.has(k) ? opts.lastGood.get(k) : o;
  });
  const result = held.size === 0 ? first : compiler({ ...input, objects }, opts);
  const readyKeys = new Set(result.verdicts.filter((v) => v.ready || isInForce(v.reason)).map(verdictKey));
  const inForce = new Set([...held].filter((k) => readyKeys.has(k)));
  const lastGood = new Map<string, unknown>();
  for (const o of objects) {
    const k = objectKeyOf(o, ns);
    if (k !== undefined && (readyKeys.has(k) || held.has(k))) lastGood.set(k, o);
  }
  const firstByKey = new Map(first.verdicts.map((v) => [verdictKey(v), v]));
  const verdicts = result.verdicts.map((v) => {
    const k = verdictKey(v);
    const invalid = firstByKey.get(k);
    if (!held.has(k) || invalid === undefined) return v;
    // The object's own verdict is about its new version; say whether the old one still serves.
    return inForce.has(k) ? { ...invalid, message: `${invalid.message}; the last good version stays in force` } : invalid;
  });
  return { config: result.config, verdicts, lastGood, heldBack: [...inForce] };
}

/** status.lastGood as the operator writes it: the spec (and generation) still in force. */
export interface LastGoodRecord {
  readonly generation?: number;
  readonly spec: unknown;
}

/**
 * The last good versions the operator recorded in the cluster (status.lastGood), each as the
 * object with that spec and generation, merged over `memory`: the record wins, so every pod,
 * whenever it started and whatever it happened to see, holds back to the same version.
 */
export function withRecordedLastGood(memory: LastGood, objects: readonly unknown[], defaultNamespace = 'default'): LastGood {
  const merged = new Map(memory);
  for (const o of objects) {
    const k = objectKeyOf(o, defaultNamespace);
    const rec = (o as { status?: { lastGood?: Partial<LastGoodRecord> } }).status?.lastGood;
    if (k === undefined || typeof rec?.spec !== 'object' || rec.spec === null) continue;
    const obj = o as { metadata: Record<string, unknown> };
    merged.set(k, { ...obj, metadata: { ...obj.metadata, generation: rec.generation }, spec: rec.spec });
  }
  return merged;
}

/**
 * What to record for an object after compile: its kept version's spec when that is not the
 * current object (held back), else undefined (the record is removed).
 */
export function lastGoodRecordOf(kept: unknown, current: unknown): LastGoodRecord | undefined {
  if (kept === undefined || kept === current || !changed(kept, current)) return undefined;
  const k = kept as { spec?: unknown; metadata?: { generation?: unknown } };
  const generation = typeof k.metadata?.generation === 'number' ? k.metadata.generation : undefined;
  return { ...(generation === undefined ? {} : { generation }), spec: k.spec };
}
