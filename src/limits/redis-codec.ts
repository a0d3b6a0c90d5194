/**
 * What crosses the Redis store's edge besides the Lua itself: a request's checks by Cluster slot, the
 * admit script's reply parsed back into a verdict, usage hashes read back into rows, and the
 * input checks that keep fractions away from INCRBY. Pure.
 */
import { gcraPeek } from './gcra.js';
import { keyTag } from './plan.js';
import type { AdmitRequest, BudgetCheck, Denial, RateCheck, RateState, Settlement, UsageRow } from './store.js';

/** The checks of one request that live in one Redis Cluster slot. */
export interface SlotChecks {
  readonly tag: string;
  readonly rates: readonly RateCheck[];
  readonly budgets: readonly BudgetCheck[];
}

export interface SlotVerdict {
  readonly states: RateState[];
  readonly denial?: Denial;
  readonly budgetsUsed: [string, number][];
}

export function parseAdmitReply(slot: SlotChecks, reply: (string | number)[]): SlotVerdict {
  const [verdict, index, value] = reply;
  const now = Number(reply[3]);
  const evaluated = Number(reply[4]);
  const states: RateState[] = [];
  for (let i = 0; i < evaluated; i++) {
    const check = slot.rates[i];
    if (check === undefined) break;
    const peek = gcraPeek({ tat: fromExact(reply[5 + 2 * i], reply[6 + 2 * i]), now, limit: check.limit });
    states.push({ check, remaining: peek.remaining, resetMs: peek.resetMs });
  }
  const i = Number(index) - 1;
  const rate = slot.rates[i];
  if (verdict === 'rate' && rate !== undefined) {
    return { states, budgetsUsed: [], denial: { kind: 'rate', check: rate, retryAfterMs: value === 'inf' ? Infinity : Number(value) } };
  }
  const budget = slot.budgets[i];
  if (verdict === 'budget' && budget !== undefined) {
    return { states, budgetsUsed: [[budget.id, Number(value)]], denial: { kind: 'budget', check: budget, used: Number(value) } };
  }
  if (verdict !== 'ok') throw new Error(`limit store: unexpected admit reply ${JSON.stringify(verdict)}`);
  const b0 = 5 + 2 * evaluated;
  return { states, budgetsUsed: slot.budgets.map((b, j) => [b.id, Number(reply[b0 + j] ?? 0)]) };
}

/** A double the admit script sent as mantissa and exponent (its `exact`): m * 2^(e - 53), exact. */
const fromExact = (m: string | number | undefined, e: string | number | undefined): number => Number(m) * 2 ** (Number(e) - 53);

type UsageTotals = { requests: number; inputTokens: number; outputTokens: number; costNanos: number };
/** Hash field suffixes (`<model>|in`) and the row fields they fill. */
const USAGE_FIELDS = new Map<string, keyof UsageTotals>([
  ['requests', 'requests'],
  ['in', 'inputTokens'],
  ['out', 'outputTokens'],
  ['cost', 'costNanos'],
]);

export function rowsOf(keyId: string, fields: Record<string, string>): UsageRow[] {
  const rows = new Map<string, UsageTotals>();
  for (const [field, value] of Object.entries(fields)) {
    const bar = field.lastIndexOf('|');
    const name = USAGE_FIELDS.get(field.slice(bar + 1));
    if (bar < 0 || name === undefined) continue;
    const model = field.slice(0, bar);
    const row = rows.get(model) ?? { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 };
    row[name] = Number(value);
    rows.set(model, row);
  }
  return [...rows].map(([model, r]) => ({ keyId, model, ...r }));
}

/** INCRBY takes integers only; a fraction here is a bug upstream, caught before Redis sees it. */
export function validate(req: AdmitRequest): void {
  for (const r of req.rates) {
    if (!(r.limit > 0) || !(r.cost >= 0)) throw new RangeError(`rate check ${r.id}: limit must be > 0 and cost >= 0`);
  }
  for (const b of req.budgets) {
    if (![b.limit, b.cost, b.ttlSeconds ?? 0].every(Number.isSafeInteger)) throw new RangeError(`budget check ${b.id}: limit, cost and ttl must be integers`);
  }
}

export function validateSettlement(s: Settlement): void {
  const u = s.usage;
  const numbers = [s.actual.tokens, s.actual.costNanos, ...(u === undefined ? [] : [u.inputTokens, u.outputTokens, u.costNanos])];
  if (!numbers.every(Number.isSafeInteger)) throw new RangeError(`settlement ${s.reservation.requestId}: token and cost amounts must be integers`);
}

/** The Redis Cluster hash tag of a key, as Redis computes it (the whole key when none). */
export function tagOf(id: string): string {
  const open = id.indexOf('{');
  if (open < 0) return id;
  const close = id.indexOf('}', open + 1);
  return close <= open + 1 ? id : id.slice(open + 1, close);
}

/** The request's checks by slot: the key's own slot first (the one round trip that matters). */
export function slotsOf(req: AdmitRequest): SlotChecks[] {
  const slots = new Map<string, { tag: string; rates: RateCheck[]; budgets: BudgetCheck[] }>();
  const slot = (tag: string): { tag: string; rates: RateCheck[]; budgets: BudgetCheck[] } => {
    const existing = slots.get(tag) ?? { tag, rates: [], budgets: [] };
    slots.set(tag, existing);
    return existing;
  };
  slot(tagOf(keyTag(req.keyId)));
  for (const r of req.rates) slot(tagOf(r.id)).rates.push(r);
  for (const b of req.budgets) slot(tagOf(b.id)).budgets.push(b);
  return [...slots.values()].filter((s) => s.rates.length + s.budgets.length > 0);
}

/** The KEYS of one script call, each key once: `ref(id)` adds it if new and gives its 1-based index (Lua's). */
export function keyTable(): { keys: string[]; ref: (id: string) => number } {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const ref = (id: string): number => {
    let i = index.get(id);
    if (i === undefined) {
      i = keys.push(id);
      index.set(id, i);
    }
    return i;
  };
  return { keys, ref };
}
