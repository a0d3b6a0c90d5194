/**
 * "An invalid object never replaces the last good config": compile, and where an object that
 * used to be good is now invalid, compile again with its last good version in its place. Pure:
 * the memory of good versions goes in and comes out.
 */
import type { Compiler } from './compile.js';
import { Reason } from './reasons.js';
import type { CompileInput, CompileOptions, CompileResult, Verdict } from './types.js';

export type LastGood = ReadonlyMap<string, unknown>;

function refKeyOf(obj: unknown, defaultNamespace: string): string | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  const ns = typeof o.metadata.namespace === 'string' ? o.metadata.namespace : defaultNamespace;
  return `${o.kind}/${ns}/${o.metadata.name}`;
}

const verdictKey = (v: Verdict): string => `${v.ref.kind}/${v.ref.namespace}/${v.ref.name}`;

export function compileKeepingLastGood(
  compiler: Compiler,
  input: CompileInput,
  opts: CompileOptions & { lastGood: LastGood },
): CompileResult & { lastGood: LastGood; heldBack: readonly string[] } {
  const ns = opts.defaultNamespace ?? 'default';
  const first = compiler(input, opts);
  const held = new Set(
    first.verdicts.filter((v) => v.reason === Reason.InvalidSpec && opts.lastGood.has(verdictKey(v))).map(verdictKey),
  );
  const objects = input.objects.map((o) => {
    const k = refKeyOf(o, ns);
    return k !== undefined && held.has(k) ? opts.lastGood.get(k) : o;
  });
  const result = held.size === 0 ? first : compiler({ ...input, objects }, opts);
  const readyKeys = new Set(result.verdicts.filter((v) => v.ready || v.reason === Reason.KeyDisabled).map(verdictKey));
  const lastGood = new Map<string, unknown>();
  for (const o of objects) {
    const k = refKeyOf(o, ns);
    if (k !== undefined && (readyKeys.has(k) || held.has(k))) lastGood.set(k, o);
  }
  const firstByKey = new Map(first.verdicts.map((v) => [verdictKey(v), v]));
  const verdicts = result.verdicts.map((v) => {
    const k = verdictKey(v);
    const invalid = firstByKey.get(k);
    if (!held.has(k) || invalid === undefined) return v;
    return { ...invalid, message: `${invalid.message}; the last good version stays in force` };
  });
  return { config: result.config, verdicts, lastGood, heldBack: [...held] };
}
