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

/**
 * A rule whose only use of `self` is `has(self.field)` (ApiKey's "exactly one credential" rule)
 * gives the same outcome for every object with the same fields, so it is evaluated once per set
 * of field names, not per object (a third of validating 100k ApiKeys was this rule; issue #13).
 */
const presenceOnly = new Map<string, boolean>();
const byFields = new Map<string, Map<string, boolean>>();
/** Field sets remembered per rule: a schema allows a handful; past that, evaluate each time. */
const MAX_FIELD_SETS = 64;

function isPresenceOnly(rule: string): boolean {
  let only = presenceOnly.get(rule);
  if (only === undefined) presenceOnly.set(rule, (only = !rule.replace(/has\(self\.[A-Za-z_][A-Za-z0-9_]*\)/g, '').includes('self')));
  return only;
}

/** Whether `rule` holds for `self`. A rule that does not evaluate to a bool counts as broken, not as passed. */
export function celHolds(rule: string, self: unknown): boolean {
  if (typeof self !== 'object' || self === null || Array.isArray(self) || !isPresenceOnly(rule)) return evaluate(rule, self);
  let memo = byFields.get(rule);
  if (memo === undefined) byFields.set(rule, (memo = new Map<string, boolean>()));
  const obj = self as Record<string, unknown>;
  // A null field stays null in the stand-in (whether has() counts it is CEL's business).
  let fields = '';
  for (const k of Object.keys(obj)) fields += obj[k] === null ? `${k}=null,` : `${k},`;
  let holds = memo.get(fields);
  if (holds === undefined) {
    holds = evaluate(rule, Object.fromEntries(Object.keys(obj).map((k) => [k, obj[k] === null ? null : true])));
    if (memo.size < MAX_FIELD_SETS) memo.set(fields, holds);
  }
  return holds;
}

function evaluate(rule: string, self: unknown): boolean {
  let program = programs.get(rule);
  if (program === undefined) programs.set(rule, (program = parse(rule)));
  const result: unknown = program({ self: toCel(self) });
  if (typeof result !== 'boolean') throw new TypeError(`CEL rule ${JSON.stringify(rule)} gave ${typeof result}, not bool`);
  return result;
}
