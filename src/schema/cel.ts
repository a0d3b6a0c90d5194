/**
 * The CRDs' CEL rules (`x-kubernetes-validations`), evaluated offline by a real CEL
 * implementation from the same rule text the API server runs, so `tokenhub validate` and
 * admission cannot disagree (test/contracts runs every rule's cases against both).
 */
import { parse } from '@marcbachmann/cel-js';

type Program = ReturnType<typeof parse>;
const programs = new Map<string, Program>();

/**
 * JSON as the API server hands it to CEL: whole numbers are `int` (the schemas' integers), so
 * they become bigint here, the type cel-js uses for int; everything else passes through.
 */
function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  return value;
}

/** Whether `rule` holds for `self`. A rule that does not evaluate to a bool counts as broken, not as passed. */
export function celHolds(rule: string, self: unknown): boolean {
  let program = programs.get(rule);
  if (program === undefined) programs.set(rule, (program = parse(rule)));
  const result: unknown = program({ self: toCel(self) });
  if (typeof result !== 'boolean') throw new TypeError(`CEL rule ${JSON.stringify(rule)} gave ${typeof result}, not bool`);
  return result;
}
