/**
 * The single-instance store: everything in this process's memory. Same semantics as the Redis
 * store (all-or-nothing admit, reserve then reconcile, idempotent usage), so a one-pod install
 * and a fleet behave alike.
 */
import { gcra, gcraAdjust, gcraPeek } from './gcra.js';
import { PERIODS, periodIdsAt } from './periods.js';
import { budgetDelta, rateDelta } from './plan.js';
import type { AdmitRequest, AdmitResult, LimitStore, RateCheck, RateState, Settlement, UsageRow } from './store.js';

interface Counter {
  value: number;
  /** Epoch ms; undefined = never. */
  expiresAt: number | undefined;
}

/**
 * How long, and how many, settled request ids are remembered to make a repeated settlement a
 * no-op (the Redis store's window is the same day). One process settles each request once and
 * nothing replays a journal into this store, so the newest ids are what matters: the count is
 * capped, since keeping every id of a day grew the heap by ~0.5 KB a request and brought full
 * GCs that stalled requests (bench/README).
 */
const REPLAY_WINDOW_MS = 24 * 3600_000;
const REPLAY_MAX_IDS = 100_000;

export class MemoryLimitStore implements LimitStore {
  readonly name = 'memory';
  private readonly tats = new Map<string, number>();
  private readonly counters = new Map<string, Counter>();
  private readonly usageRows = new Map<string, Map<string, UsageRow>>();
  private readonly settled = new RecentIds();

  /** Settled request ids held for replay protection (bounded; see REPLAY_MAX_IDS). */
  get rememberedIds(): number {
    return this.settled.size;
  }

  async admit(req: AdmitRequest, now: number): Promise<AdmitResult> {
    const rates: RateState[] = [];
    // The new TAT of req.rates[i], stored only once every check has passed.
    const newTats: number[] = [];
    for (const check of req.rates) {
      const d = gcra({ tat: this.tats.get(check.id), now, limit: check.limit, cost: check.cost });
      rates.push({ check, remaining: d.remaining, resetMs: d.resetMs });
      if (!d.allowed) return { allowed: false, denial: { kind: 'rate', check, retryAfterMs: d.retryAfterMs }, rates };
      newTats.push(d.tat);
    }
    for (const check of req.budgets) {
      const used = this.counterValue(check.id, now);
      if (used >= check.limit) return { allowed: false, denial: { kind: 'budget', check, used }, rates };
    }
    for (let i = 0; i < newTats.length; i++) this.tats.set((req.rates[i] as RateCheck).id, newTats[i] as number);
    for (const check of req.budgets) this.addTo(check.id, check.cost, now, check.ttlSeconds);
    return { allowed: true, rates };
  }

  async settle(s: Settlement, now: number): Promise<void> {
    const id = s.reservation.requestId;
    if (this.settled.has(id)) return;
    this.settled.add(id, now + REPLAY_WINDOW_MS);
    this.settled.prune(now, REPLAY_MAX_IDS);
    // The deltas of plan.ts's settlementDeltas, applied as they are worked out (no lists per settlement).
    const failed = s.failedAttempt === true;
    for (const check of s.reservation.rates) {
      const delta = rateDelta(check, s.actual, failed);
      if (delta !== 0) this.tats.set(check.id, gcraAdjust({ tat: this.tats.get(check.id), now, limit: check.limit, delta }));
    }
    for (const check of s.reservation.budgets) {
      const delta = budgetDelta(check, s.actual);
      if (delta !== 0) this.addTo(check.id, delta, now, check.ttlSeconds);
    }
    if (s.usage !== undefined) this.record(s.usage);
  }

  async usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]> {
    const rows = [...(this.usageRows.get(query.periodId)?.values() ?? [])];
    return rows.filter((r) => query.keyId === undefined || r.keyId === query.keyId).map((r) => ({ ...r }));
  }

  async peek(rates: readonly RateCheck[], now: number): Promise<RateState[]> {
    return rates.map((check) => ({ check, ...gcraPeek({ tat: this.tats.get(check.id), now, limit: check.limit }) }));
  }

  async budgetUsed(id: string): Promise<number> {
    return this.counterValue(id, Date.now());
  }

  async credit(id: string, amount: number): Promise<void> {
    this.addTo(id, -amount, Date.now(), undefined);
  }

  async close(): Promise<void> {}

  private record(u: Settlement['usage'] & object): void {
    const ids = periodIdsAt(u.at);
    const k = `${u.keyId}\n${u.model}`;
    for (const period of PERIODS) {
      const pid = ids[period];
      let rows = this.usageRows.get(pid);
      if (rows === undefined) this.usageRows.set(pid, (rows = new Map<string, UsageRow>()));
      let r = rows.get(k);
      if (r === undefined) rows.set(k, (r = { keyId: u.keyId, model: u.model, requests: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 }));
      // Rows are private and handed out as copies (usage()), so they are updated in place.
      const row = r as { -readonly [F in keyof UsageRow]: UsageRow[F] };
      row.requests += 1;
      row.inputTokens += u.inputTokens;
      row.outputTokens += u.outputTokens;
      row.costNanos += u.costNanos;
    }
  }

  private counterValue(id: string, now: number): number {
    const c = this.counters.get(id);
    if (c === undefined) return 0;
    if (c.expiresAt !== undefined && c.expiresAt <= now) {
      this.counters.delete(id);
      return 0;
    }
    return c.value;
  }

  private addTo(id: string, delta: number, now: number, ttlSeconds: number | undefined): void {
    // A live counter is updated in place (counters are private); an expired or new one starts at the delta.
    const c = this.counters.get(id);
    if (c !== undefined && (c.expiresAt === undefined || c.expiresAt > now)) {
      c.value += delta;
      return;
    }
    this.counters.set(id, { value: delta, expiresAt: ttlSeconds === undefined ? undefined : now + ttlSeconds * 1000 });
  }
}

/**
 * Ids in the order they came: membership in a Set, age in a queue with the oldest at its head.
 * Pruning looks at the head only: iterating a Map from its start to find the oldest walked over
 * the holes its deletions leave until the next rehash (tens of thousands at the cap), ~6 µs a
 * settlement at 100,000 remembered ids.
 */
class RecentIds {
  private readonly ids = new Set<string>();
  private queue: string[] = [];
  private untils: number[] = [];
  private head = 0;

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string, until: number): void {
    this.ids.add(id);
    this.queue.push(id);
    this.untils.push(until);
  }

  /** Forgets the oldest ids past their time (or past `max`), a hundred or so at a time: memory stays bounded. */
  prune(now: number, max: number): void {
    let n = 0;
    while (this.head < this.queue.length && ((this.untils[this.head] as number) <= now || this.ids.size > max) && n++ <= 100) {
      this.ids.delete(this.queue[this.head] as string);
      this.head++;
    }
    // The forgotten front goes once it is half the queue: a copy of the rest per as many ids forgotten.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.untils = this.untils.slice(this.head);
      this.head = 0;
    }
  }
}
