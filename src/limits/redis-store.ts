/**
 * The fleet store: limits and usage in Redis, shared by every gateway replica.
 *
 * admit is one round trip for all of a key's checks: they share a `{hash tag}` (plan.ts), so one
 * Lua script (redis-scripts.ts) decides them atomically with Redis's clock and writes only if
 * all pass. A model's fleet-wide checks live in another slot: a second script call, and if that
 * one denies, the key's reservation is refunded so admit stays all-or-nothing.
 *
 * Overshoot bound (reserve, then reconcile): concurrent requests cannot exceed a limit by more
 * than one request's reservation. Rate checks include the request's cost in the decision, so
 * reservations alone never pass a rate limit; a settlement whose actual use exceeds what was
 * reserved moves the TAT further (debt the next requests wait for). A budget admits while
 * `used < limit` and adds the reservation atomically, so the request that crosses the limit is
 * the last one admitted: at most one reservation over (and reservations are upper bounds: input
 * plus max_tokens). Requests of one key in flight between the two script calls may be denied
 * by a reservation about to be refunded: under-admission, never over-admission.
 *
 * settle applies `actual − reserved` (settlementDeltas) and the usage record atomically per
 * slot, guarded by a `SET … NX EX 86400` on the request id, so a replayed settlement is a no-op.
 *
 * An admit that reserved leaves a mark in the key's slot until its settlement deletes it (or
 * the replay window passes: a request never settled, its pod gone). An admit whose reply was
 * lost (Redis SIGKILLed after writing, a timeout) is undone by a refund that requires the mark
 * (undoAdmit): applied once if Redis held the reservation, a no-op if not. Without it a
 * fail-open pod charged such a request twice: the lost reservation, and the actual use of its
 * fallback admit. Only the key's slot is marked (budgets all live there); a model's fleet-wide
 * TAT heals within its window.
 */
import { PERIODS, periodIds, type Period } from './periods.js';
import { keyTag, settlementDeltas } from './plan.js';
import { ADJUST_LUA, ADMIT_LUA, PEEK_LUA } from './redis-scripts.js';
import { gcraPeek } from './gcra.js';
import { connectRedis, waitReady, type RedisClient, type RedisConnectOptions } from './redis-connect.js';
import type { AdmitRequest, AdmitResult, BudgetCheck, Denial, LimitStore, RateCheck, RateState, Settlement, UsageRecord, UsageRow } from './store.js';
import type { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    tokenhubAdmit(numKeys: number, ...args: (string | number)[]): Result<string[], Context>;
    tokenhubAdjust(numKeys: number, ...args: (string | number)[]): Result<number, Context>;
    tokenhubPeek(numKeys: number, ...args: (string | number)[]): Result<string[], Context>;
  }
}

/** How long a settled request id is remembered (replays after that would count twice). */
const REPLAY_WINDOW_S = 86_400;
/** Usage kept long enough for invoices and audits, but not forever: Redis is memory. */
const USAGE_RETENTION_S: Readonly<Record<Period, number>> = { day: 100 * 86_400, month: 800 * 86_400, total: 0 };
/** One set per period lists the keys with usage in it, so `usage()` needs no SCAN. */
const USAGE_INDEX_TAG = 'th:{usage}';

export const usageKey = (keyId: string, pid: string): string => `${keyTag(keyId)}:u:${pid}`;
/** "Redis holds this reservation": set by admit, deleted by its settlement or undo. */
export const reservationMark = (keyId: string, requestId: string): string => `${keyTag(keyId)}:r:${requestId}`;
/** A refund's idempotency id is its reservation's id plus this; the mark is the reservation's. */
const REFUND_SUFFIX = ':refund';
export const usageIndexKey = (pid: string): string => `${USAGE_INDEX_TAG}:keys:${pid}`;

export interface RedisStoreOptions extends Partial<RedisConnectOptions> {
  /** An existing client (tests, or a shared connection); otherwise one is made from `url`. */
  readonly client?: RedisClient;
  /** 'redis' (default): Redis's TIME. 'caller': the `now` passed in (deterministic tests). */
  readonly clock?: 'redis' | 'caller';
  /**
   * How long settled request ids are kept so replays are no-ops (default 24 h). Each costs a
   * small key in Redis: at very high volume a shorter window (longer than any outage whose
   * journal you would replay) saves memory.
   */
  readonly replayWindowSeconds?: number;
}

/** admit's answer plus what the budget counters hold after it (the resilient store's fallback uses it). */
export type RedisAdmitResult = AdmitResult & { readonly budgetsUsed: ReadonlyMap<string, number> };

/**
 * Thrown when an earlier slot's reservation was made but a later call failed and the refund
 * could not be made either: `refund` is the settlement that undoes it, to replay later.
 */
export class PartialAdmitError extends Error {
  override readonly name = 'PartialAdmitError';
  constructor(
    readonly refund: Settlement,
    override readonly cause: unknown,
  ) {
    super(`limit store: a reservation could not be completed (${cause instanceof Error ? cause.message : String(cause)})`);
  }
}

/** The checks of one request that live in one Redis Cluster slot. */
interface SlotChecks {
  readonly tag: string;
  readonly rates: RateCheck[];
  readonly budgets: BudgetCheck[];
}

interface SlotVerdict {
  readonly states: RateState[];
  readonly denial?: Denial;
  readonly budgetsUsed: [string, number][];
}

export class RedisLimitStore implements LimitStore {
  readonly name = 'redis';
  readonly client: RedisClient;
  private readonly callerClock: boolean;
  private readonly replayWindowS: number;
  /**
   * (key, period) pairs this instance indexed lately, until when: the index is a set, so
   * re-adding is harmless but costs five commands a settlement. Re-added every minute anyway,
   * so a Redis that lost its data is re-indexed soon.
   */
  private readonly indexed = new Map<string, number>();

  constructor(opts: RedisStoreOptions) {
    if (opts.client === undefined && opts.url === undefined) throw new TypeError('RedisLimitStore needs a url or a client');
    this.client = opts.client ?? connectRedis({ ...opts, url: opts.url ?? '' });
    // Errors reach callers through the commands; without a listener ioredis would log each one.
    this.client.on('error', () => undefined);
    this.client.defineCommand('tokenhubAdmit', { lua: ADMIT_LUA });
    this.client.defineCommand('tokenhubAdjust', { lua: ADJUST_LUA });
    this.client.defineCommand('tokenhubPeek', { lua: PEEK_LUA });
    this.callerClock = opts.clock === 'caller';
    this.replayWindowS = opts.replayWindowSeconds ?? REPLAY_WINDOW_S;
  }

  /** Waits for the connection: false after `timeoutMs` (the client keeps trying), or at the first error with `failFast`. */
  ready(timeoutMs = 2000, opts: { failFast?: boolean } = {}): Promise<boolean> {
    return waitReady(this.client, { timeoutMs, ...opts });
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async admit(req: AdmitRequest, now: number): Promise<RedisAdmitResult> {
    validate(req);
    const states: RateState[] = [];
    const budgetsUsed = new Map<string, number>();
    const reserved: SlotChecks[] = [];
    const keySlot = tagOf(keyTag(req.keyId));
    for (const slot of slotsOf(req)) {
      let verdict: SlotVerdict;
      try {
        verdict = await this.admitSlot(slot, now, slot.tag === keySlot ? reservationMark(req.keyId, req.requestId) : undefined);
      } catch (err) {
        if (reserved.length > 0) await this.refundOrThrow(req, reserved, now, err);
        throw err;
      }
      states.push(...verdict.states);
      for (const [id, used] of verdict.budgetsUsed) budgetsUsed.set(id, used);
      if (verdict.denial !== undefined) {
        if (reserved.length > 0) await this.refundOrThrow(req, reserved, now, undefined);
        return { allowed: false, denial: verdict.denial, rates: states, budgetsUsed };
      }
      reserved.push(slot);
    }
    return { allowed: true, rates: states, budgetsUsed };
  }

  async settle(s: Settlement, now: number): Promise<void> {
    validateSettlement(s);
    const deltas = settlementDeltas({ ...s.reservation, actual: s.actual, ...(s.failedAttempt === undefined ? {} : { failedAttempt: s.failedAttempt }) });
    const slots = new Map<string, AdjustSlot>();
    const slot = (tag: string): AdjustSlot => {
      const existing = slots.get(tag) ?? { rates: [], budgets: [], usageKeys: [] };
      slots.set(tag, existing);
      return existing;
    };
    // The key's slot always runs: it records the request id even when nothing changes, and
    // clears (or, for an undo, requires) the reservation's mark.
    const keySlot = tagOf(keyTag(s.reservation.keyId));
    if (s.reserved !== false) {
      const rid = s.reservation.requestId;
      const id = s.reserved === 'unknown' && rid.endsWith(REFUND_SUFFIX) ? rid.slice(0, -REFUND_SUFFIX.length) : rid;
      slot(keySlot).mark = { id: reservationMark(s.reservation.keyId, id), mode: s.reserved === 'unknown' ? 'require' : 'clear' };
    }
    slot(keySlot);
    for (const d of deltas.rates) slot(tagOf(d.check.id)).rates.push(d);
    for (const d of deltas.budgets) slot(tagOf(d.check.id)).budgets.push(d);
    const usage = s.usage;
    const ids = usage === undefined ? undefined : periodIds(new Date(usage.at));
    const pids = ids === undefined ? [] : PERIODS.map((p) => ({ period: p, pid: ids[p] }));
    if (usage !== undefined) {
      for (const { period, pid } of pids) slot(tagOf(keyTag(usage.keyId))).usageKeys.push({ id: usageKey(usage.keyId, pid), ttl: USAGE_RETENTION_S[period] });
    }
    // An undo cannot tell whether another slot's reservation was made: those TATs heal by themselves.
    if (s.reserved === 'unknown') for (const tag of slots.keys()) if (tag !== keySlot) slots.delete(tag);
    const calls: Promise<unknown>[] = [...slots].map(([tag, a]) => this.adjustSlot({ tag, slot: a, requestId: s.reservation.requestId, usage, now }));
    // Indexing first would be tidier, but it is idempotent and a failed settle is replayed
    // whole, so issuing both in the same tick (one round trip) loses nothing.
    if (usage !== undefined) calls.push(this.indexUsage(usage.keyId, pids));
    await Promise.all(calls);
  }

  async usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]> {
    const keyIds = query.keyId !== undefined ? [query.keyId] : await this.client.smembers(usageIndexKey(query.periodId));
    const hashes = await Promise.all(keyIds.map(async (k) => ({ keyId: k, fields: await this.client.hgetall(usageKey(k, query.periodId)) })));
    return hashes.flatMap((h) => rowsOf(h.keyId, h.fields)).sort((a, b) => a.keyId.localeCompare(b.keyId) || a.model.localeCompare(b.model));
  }

  async peek(rates: readonly RateCheck[], now: number): Promise<RateState[]> {
    // One read-only script per slot (a key's counters share one; fleet-wide ones have their own).
    const bySlot = new Map<string, RateCheck[]>();
    for (const r of rates) bySlot.set(tagOf(r.id), [...(bySlot.get(tagOf(r.id)) ?? []), r]);
    const states = new Map<string, RateState>();
    await Promise.all(
      [...bySlot.values()].map(async (checks) => {
        const reply = await this.client.tokenhubPeek(checks.length, ...checks.map((c) => c.id), this.callerClock ? String(now) : '');
        const at = Number(reply[0]);
        checks.forEach((check, i) => {
          const raw = reply[i + 1] ?? '';
          states.set(check.id, { check, ...gcraPeek({ tat: raw === '' ? undefined : Number(raw), now: at, limit: check.limit }) });
        });
      }),
    );
    return rates.map((r) => states.get(r.id) as RateState);
  }

  async budgetUsed(id: string): Promise<number> {
    return Number((await this.client.get(id)) ?? 0);
  }

  async credit(id: string, amount: number): Promise<void> {
    if (!Number.isSafeInteger(amount)) throw new RangeError('credit amount must be an integer');
    await this.client.decrby(id, amount);
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async admitSlot(slot: SlotChecks, now: number, mark: string | undefined): Promise<SlotVerdict> {
    const args: (string | number)[] = [this.callerClock ? String(now) : '', slot.rates.length, slot.budgets.length];
    for (const r of slot.rates) args.push(r.limit, r.cost);
    for (const b of slot.budgets) args.push(b.limit, b.cost, b.ttlSeconds ?? 0);
    const keys = [...slot.rates.map((r) => r.id), ...slot.budgets.map((b) => b.id)];
    if (mark !== undefined) {
      keys.push(mark);
      args.push(this.replayWindowS);
    }
    const reply = await this.client.tokenhubAdmit(keys.length, ...keys, ...args);
    return parseAdmitReply(slot, reply);
  }

  private async adjustSlot(opts: { tag: string; slot: AdjustSlot; requestId: string; usage: UsageRecord | undefined; now: number }): Promise<void> {
    const { slot, usage } = opts;
    const args: (string | number)[] = [
      this.callerClock ? String(opts.now) : '',
      this.replayWindowS,
      slot.rates.length,
      slot.budgets.length,
      slot.usageKeys.length,
    ];
    for (const r of slot.rates) args.push(r.check.limit, r.delta);
    for (const b of slot.budgets) args.push(b.delta, b.check.ttlSeconds ?? 0);
    if (usage !== undefined && slot.usageKeys.length > 0) {
      args.push(usage.model, usage.inputTokens, usage.outputTokens, usage.costNanos, ...slot.usageKeys.map((u) => u.ttl));
    }
    const keys = [
      `th:{${opts.tag}}:s:${opts.requestId}`,
      ...slot.rates.map((r) => r.check.id),
      ...slot.budgets.map((b) => b.check.id),
      ...slot.usageKeys.map((u) => u.id),
    ];
    if (slot.mark !== undefined) {
      keys.push(slot.mark.id);
      args.push(slot.mark.mode);
    }
    await this.client.tokenhubAdjust(keys.length, ...keys, ...args);
  }

  private async indexUsage(keyId: string, pids: { period: Period; pid: string }[]): Promise<void> {
    const memo = `${keyId}\n${pids.map((p) => p.pid).join(' ')}`;
    const now = Date.now();
    if ((this.indexed.get(memo) ?? 0) > now) return;
    await Promise.all(
      pids.flatMap(({ period, pid }) => {
        const ttl = USAGE_RETENTION_S[period];
        // Issued together (one pipelined write); the EXPIRE keeps pushing out a live period's end.
        return [this.client.sadd(usageIndexKey(pid), keyId), ...(ttl > 0 ? [this.client.expire(usageIndexKey(pid), ttl)] : [])];
      }),
    );
    if (this.indexed.size >= 10_000) this.indexed.clear();
    this.indexed.set(memo, now + 60_000);
  }

  /** Undoes the slots already reserved; if Redis fails meanwhile, hands the refund to the caller. */
  private async refundOrThrow(req: AdmitRequest, reserved: SlotChecks[], now: number, cause: unknown): Promise<void> {
    const refund = refundOf(req, reserved);
    try {
      await this.settle(refund, now);
    } catch (err) {
      throw new PartialAdmitError(refund, cause ?? err);
    }
  }
}

interface AdjustSlot {
  readonly rates: { check: RateCheck; delta: number }[];
  readonly budgets: { check: BudgetCheck; delta: number }[];
  readonly usageKeys: { id: string; ttl: number }[];
  mark?: { readonly id: string; readonly mode: 'clear' | 'require' };
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
  const slots = new Map<string, SlotChecks>();
  const slot = (tag: string): SlotChecks => {
    const existing = slots.get(tag) ?? { tag, rates: [], budgets: [] };
    slots.set(tag, existing);
    return existing;
  };
  slot(tagOf(keyTag(req.keyId)));
  for (const r of req.rates) slot(tagOf(r.id)).rates.push(r);
  for (const b of req.budgets) slot(tagOf(b.id)).budgets.push(b);
  return [...slots.values()].filter((s) => s.rates.length + s.budgets.length > 0);
}

/**
 * A settlement that gives back everything the reserved slots took: failedAttempt with zero
 * use refunds every token, cost and (key-scoped) request reservation. It requires the mark, so
 * it is applied at most once whoever sends it (this refund, or an undo of the same admit).
 */
function refundOf(req: AdmitRequest, reserved: SlotChecks[]): Settlement {
  const reservation: AdmitRequest = {
    requestId: `${req.requestId}${REFUND_SUFFIX}`,
    keyId: req.keyId,
    rates: reserved.flatMap((s) => s.rates),
    budgets: reserved.flatMap((s) => s.budgets),
  };
  return { reservation, actual: { tokens: 0, costNanos: 0 }, failedAttempt: true, reserved: 'unknown' };
}

/**
 * Undoes an admit whose answer never came: the reservation is refunded if (and only if) Redis
 * made it. For the resilient store's journal; replays are no-ops.
 */
export function undoAdmit(req: AdmitRequest): Settlement {
  return refundOf(req, slotsOf(req));
}

function parseAdmitReply(slot: SlotChecks, reply: string[]): SlotVerdict {
  const [verdict, index, value, useds] = reply;
  const states: RateState[] = [];
  for (let i = 4; i + 1 < reply.length; i += 2) {
    const check = slot.rates[states.length];
    if (check !== undefined) states.push({ check, remaining: Number(reply[i]), resetMs: Number(reply[i + 1]) });
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
  const used = (useds ?? '') === '' ? [] : (useds ?? '').split(',').map(Number);
  return { states, budgetsUsed: slot.budgets.map((b, j) => [b.id, used[j] ?? 0]) };
}

type UsageTotals = { requests: number; inputTokens: number; outputTokens: number; costNanos: number };
/** Hash field suffixes (`<model>|in`) and the row fields they fill. */
const USAGE_FIELDS = new Map<string, keyof UsageTotals>([
  ['requests', 'requests'],
  ['in', 'inputTokens'],
  ['out', 'outputTokens'],
  ['cost', 'costNanos'],
]);

function rowsOf(keyId: string, fields: Record<string, string>): UsageRow[] {
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
function validate(req: AdmitRequest): void {
  for (const r of req.rates) {
    if (!(r.limit > 0) || !(r.cost >= 0)) throw new RangeError(`rate check ${r.id}: limit must be > 0 and cost >= 0`);
  }
  for (const b of req.budgets) {
    if (![b.limit, b.cost, b.ttlSeconds ?? 0].every(Number.isSafeInteger)) throw new RangeError(`budget check ${b.id}: limit, cost and ttl must be integers`);
  }
}

function validateSettlement(s: Settlement): void {
  const u = s.usage;
  const numbers = [s.actual.tokens, s.actual.costNanos, ...(u === undefined ? [] : [u.inputTokens, u.outputTokens, u.costNanos])];
  if (!numbers.every(Number.isSafeInteger)) throw new RangeError(`settlement ${s.reservation.requestId}: token and cost amounts must be integers`);
}
