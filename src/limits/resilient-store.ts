/**
 * Keeps limiting when Redis is not there. Wraps the Redis store; on a Redis error or timeout it
 * switches to 'degraded' and, in 'fail-open' mode (the default), serves admits from a per-pod
 * memory store whose limits are this pod's share of the fleet's (`ceil(limit / replicas)`, and
 * for budgets the share of what Redis last said was left), so the fleet as a whole stays near
 * its limits instead of multiplying them by the number of replicas. In 'fail-closed' mode
 * admits throw StoreUnavailableError (the gateway answers 503).
 *
 * Settlements are never dropped silently: whatever cannot reach Redis (a degraded pod's
 * usage and spend, a settlement that failed mid-way, the undo of an admit whose answer was
 * lost) goes to a bounded in-memory journal, replayed when a probe (with backoff) finds Redis
 * again. Replays are idempotent (request ids), so a settlement that did reach Redis before its
 * reply was lost is not counted twice. Only a journal overflow loses entries, and those are
 * counted.
 */
import { StoreUnavailableError } from './errors.js';
import { MemoryLimitStore } from './memory-store.js';
import { undoAdmit } from './redis-store.js';
import type { AdmitRequest, AdmitResult, LimitStore, RateCheck, RateState, Settlement, UsageRow } from './store.js';

export { StoreUnavailableError };

export type StoreMode = 'fail-open' | 'fail-closed';
export type StoreState = 'redis' | 'degraded';

/** What the resilient store needs from the fleet store (RedisLimitStore has it all). */
export interface RemoteLimitStore extends LimitStore {
  admit(req: AdmitRequest, now: number): Promise<AdmitResult & { readonly budgetsUsed?: ReadonlyMap<string, number> }>;
  ping(): Promise<void>;
  ready?(timeoutMs?: number): Promise<boolean>;
  /** Sends settlements it holds back (batched) now, and waits for them. */
  flushSettlements?(): Promise<void>;
}

export interface ResilientStoreOptions {
  readonly remote: RemoteLimitStore;
  readonly mode?: StoreMode;
  /** Gateway replicas sharing the limits (e.g. TOKENHUB_REPLICAS); 1 when unknown. */
  readonly replicas?: number;
  /** Settlements kept while Redis is away; beyond it the oldest are dropped (and counted). */
  readonly journalLimit?: number;
  /** Health probe backoff: first delay, doubled up to the max. */
  readonly probeInitialMs?: number;
  readonly probeMaxMs?: number;
  /** How long the first admits wait for the first connection (default 1500 ms). */
  readonly startupWaitMs?: number;
  /** Settlements replayed at once. */
  readonly replayConcurrency?: number;
  readonly onStateChange?: (state: StoreState, reason: string) => void;
}

export interface ResilientStats {
  readonly state: StoreState;
  readonly journal: number;
  readonly replayed: number;
  readonly dropped: number;
  /** Admits decided by the per-pod fallback. */
  readonly degradedAdmits: number;
}

interface JournalEntry {
  readonly settlement: Settlement;
  readonly now: number;
}

/** A FIFO with a cap that drops the oldest entry when full; O(1) at both ends. */
class Journal {
  private items: JournalEntry[] = [];
  private head = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(e: JournalEntry): void {
    if (this.length >= this.limit) this.dropOldest();
    this.items.push(e);
  }

  take(n: number): JournalEntry[] {
    const batch = this.items.slice(this.head, this.head + n);
    this.head += batch.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /** Puts back entries a replay could not deliver, ahead of newer ones. */
  requeue(entries: JournalEntry[]): void {
    this.items = [...entries, ...this.items.slice(this.head)];
    this.head = 0;
    while (this.length > this.limit) this.dropOldest();
  }

  private dropOldest(): void {
    this.head++;
    this.dropped++;
  }
}

/** Remembers at most `cap` entries, forgetting the oldest: per-request state must not leak. */
class BoundedMap<V> extends Map<string, V> {
  constructor(private readonly cap: number) {
    super();
  }
  override set(k: string, v: V): this {
    this.delete(k);
    super.set(k, v);
    if (this.size > this.cap) this.delete(this.keys().next().value as string);
    return this;
  }
}

export class ResilientStore implements LimitStore {
  readonly name = 'redis';
  readonly mode: StoreMode;
  private readonly remote: RemoteLimitStore;
  private readonly replicas: number;
  private readonly opts: ResilientStoreOptions;
  private local = new MemoryLimitStore();
  private current: StoreState = 'redis';
  private readonly journal: Journal;
  private replayed = 0;
  private degradedAdmits = 0;
  /** Requests admitted by the per-pod fallback, with the reduced checks they reserved. */
  private readonly localAdmits = new BoundedMap<AdmitRequest>(100_000);
  /** Budget counters as Redis last reported them: the base of a degraded pod's share. */
  private readonly knownUsed = new BoundedMap<number>(50_000);
  private probeTimer: NodeJS.Timeout | undefined;
  private replaying: Promise<void> | undefined;
  private connecting: Promise<unknown> | undefined;
  private closed = false;
  /** Settlements on their way to Redis (batched there): a flush waits for them to land or be journaled. */
  private readonly settling = new Set<Promise<void>>();

  constructor(opts: ResilientStoreOptions) {
    this.opts = opts;
    this.remote = opts.remote;
    this.mode = opts.mode ?? 'fail-open';
    this.replicas = Math.max(1, Math.floor(opts.replicas ?? 1));
    this.journal = new Journal(opts.journalLimit ?? 100_000);
    // The first requests wait for the first connection (bounded by the connect timeout)
    // rather than starting degraded because the socket was still opening.
    this.connecting = this.remote.ready?.(opts.startupWaitMs ?? 1500);
  }

  state(): StoreState {
    return this.current;
  }

  stats(): ResilientStats {
    return { state: this.current, journal: this.journal.length, replayed: this.replayed, dropped: this.journal.dropped, degradedAdmits: this.degradedAdmits };
  }

  /** Waits for Redis (at most `timeoutMs`); the state afterwards. */
  async ready(timeoutMs = 2000): Promise<StoreState> {
    if (this.current === 'redis') await this.remote.ready?.(timeoutMs);
    return this.current;
  }

  async admit(req: AdmitRequest, now: number): Promise<AdmitResult> {
    if (this.connecting !== undefined) {
      await this.connecting;
      this.connecting = undefined;
    }
    if (this.current === 'redis') {
      try {
        const res = await this.remote.admit(req, now);
        for (const [id, used] of res.budgetsUsed ?? []) this.knownUsed.set(id, used);
        return res;
      } catch (err) {
        if (isBug(err)) throw err;
        // The answer is lost, not necessarily the reservation (Redis may have made it, or part
        // of it: a PartialAdmitError). The undo refunds it once Redis is back, if it was made.
        this.journal.push({ settlement: undoAdmit(req), now });
        this.degrade(err);
      }
    }
    if (this.mode === 'fail-closed') throw new StoreUnavailableError('limit store unavailable: Redis cannot be reached');
    return this.admitLocally(req, now);
  }

  settle(s: Settlement, now: number): Promise<void> {
    const p = this.settleOnce(s, now);
    this.settling.add(p);
    const done = (): void => void this.settling.delete(p);
    p.then(done, done);
    return p;
  }

  private async settleOnce(s: Settlement, now: number): Promise<void> {
    const localReq = this.localAdmits.get(s.reservation.requestId);
    if (localReq === undefined) return this.settleRemote(s, now);
    this.localAdmits.delete(s.reservation.requestId);
    await this.local.settle({ ...s, reservation: localReq }, now);
    await this.settleRemote(chargeOf(s), now);
  }

  async usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]> {
    return this.orUnavailable(() => this.remote.usage(query));
  }

  async peek(rates: readonly RateCheck[], now: number): Promise<RateState[]> {
    // Like admit: the first calls wait for the first connection rather than answer degraded.
    await this.connecting;
    if (this.current === 'redis') {
      try {
        return await this.remote.peek(rates, now);
      } catch (err) {
        if (isBug(err)) throw err;
        if (this.mode === 'fail-closed') throw unavailable(err);
      }
    }
    if (this.mode === 'fail-closed') throw new StoreUnavailableError('limit store unavailable: Redis cannot be reached');
    // Degraded: what this pod's share (the limits it enforces now) still admits.
    const share = rates.map((r) => ({ ...r, limit: Math.ceil(r.limit / this.replicas) }));
    return this.local.peek(share, now);
  }

  async budgetUsed(id: string): Promise<number> {
    try {
      return await this.remote.budgetUsed(id);
    } catch (err) {
      if (isBug(err) || this.mode === 'fail-closed') throw unavailable(err);
      return (this.knownUsed.get(id) ?? 0) + (await this.local.budgetUsed(id));
    }
  }

  async credit(id: string, amount: number): Promise<void> {
    // An operator's recharge must land in Redis or fail loudly, never wait in a pod's memory.
    return this.orUnavailable(() => this.remote.credit(id, amount));
  }

  /** Replays the journal now (graceful shutdown); rejects if Redis cannot take all of it. */
  async flush(): Promise<void> {
    // Settlements still on their way to Redis: each lands, or fails into the journal.
    await this.remote.flushSettlements?.();
    while (this.settling.size > 0) await Promise.allSettled([...this.settling]);
    // The last batch of a replay under way is out of the journal but not yet in Redis: wait
    // for it (if it fails, its entries are back in the journal and replayed below).
    await this.replaying?.catch(() => undefined);
    if (this.journal.length === 0) return;
    try {
      await this.remote.ping();
      // A replay already under way may end just before entries that arrived meanwhile.
      for (let round = 0; round < 3 && this.journal.length > 0; round++) await this.replay();
    } catch (err) {
      throw unavailable(err);
    }
    if (this.journal.length > 0) throw new StoreUnavailableError(`limit store: ${this.journal.length} settlements could not be replayed to Redis`);
    if (this.current === 'degraded') this.recover();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    await this.remote.close();
    await this.local.close();
  }

  private async admitLocally(req: AdmitRequest, now: number): Promise<AdmitResult> {
    const share = (limit: number): number => Math.ceil(limit / this.replicas);
    const localReq: AdmitRequest = {
      ...req,
      rates: req.rates.map((r) => ({ ...r, limit: share(r.limit) })),
      // Budgets: this pod's share of what Redis last said was left (all of it when unknown).
      budgets: req.budgets.map((b) => ({ ...b, limit: share(Math.max(0, b.limit - (this.knownUsed.get(b.id) ?? 0))) })),
    };
    const res = await this.local.admit(localReq, now);
    this.degradedAdmits++;
    if (res.allowed) this.localAdmits.set(req.requestId, localReq);
    return res;
  }

  private async settleRemote(s: Settlement, now: number): Promise<void> {
    if (this.current === 'redis') {
      try {
        await this.remote.settle(s, now);
        return;
      } catch (err) {
        if (isBug(err)) throw err;
        this.degrade(err);
      }
    }
    this.journal.push({ settlement: s, now });
  }

  private async orUnavailable<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw isBug(err) ? err : unavailable(err);
    }
  }

  private degrade(err: unknown): void {
    if (this.current === 'degraded' || this.closed) return;
    this.current = 'degraded';
    this.opts.onStateChange?.('degraded', errorText(err));
    this.scheduleProbe(this.opts.probeInitialMs ?? 100);
  }

  private recover(): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    // A fresh fallback for the next outage: what this one counted goes to Redis by the replay.
    this.local = new MemoryLimitStore();
    this.current = 'redis';
    this.opts.onStateChange?.('redis', `Redis reachable again; replaying ${this.journal.length} journaled settlements`);
  }

  private scheduleProbe(delayMs: number): void {
    if (this.closed) return;
    const jittered = delayMs * (0.8 + Math.random() * 0.4);
    this.probeTimer = setTimeout(() => void this.probe(delayMs), jittered);
    // A probe must not keep a stopping process alive.
    this.probeTimer.unref();
  }

  private async probe(delayMs: number): Promise<void> {
    try {
      await this.remote.ping();
    } catch {
      this.scheduleProbe(Math.min(this.opts.probeMaxMs ?? 5000, delayMs * 2));
      return;
    }
    if (this.closed) return;
    // Back on Redis at once, replaying behind: under load a degraded pod journals faster than
    // a replay drains, so waiting for an empty journal could keep it degraded for good. Until
    // the replay is done, Redis is missing the outage's spend (budgets may admit a little more).
    if (this.current === 'degraded') this.recover();
    this.replay().catch((err: unknown) => this.degrade(err));
  }

  /** Drains the journal; one replay at a time. Throws (leaving the rest queued) on a failure. */
  private replay(): Promise<void> {
    this.replaying ??= this.drain().finally(() => {
      this.replaying = undefined;
    });
    return this.replaying;
  }

  private async drain(): Promise<void> {
    const concurrency = this.opts.replayConcurrency ?? 64;
    while (this.journal.length > 0) {
      const batch = this.journal.take(concurrency);
      const results = await Promise.allSettled(batch.map((e) => this.remote.settle(e.settlement, e.now)));
      const failed = batch.filter((_, i) => results[i]?.status === 'rejected');
      this.replayed += batch.length - failed.length;
      if (failed.length > 0) {
        this.journal.requeue(failed);
        const reason = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        throw reason.reason;
      }
    }
  }
}

/**
 * What a request admitted by the fallback owes Redis: Redis reserved nothing for it, so its
 * budgets are charged in full (a reservation of zero reconciled to the actual) and its usage
 * recorded. Its rate checks are left out: a minute's window is over by the time of a replay.
 */
function chargeOf(s: Settlement): Settlement {
  const reservation: AdmitRequest = { ...s.reservation, rates: [], budgets: s.reservation.budgets.map((b) => ({ ...b, cost: 0 })) };
  return { reservation, actual: s.actual, reserved: false, ...(s.usage === undefined ? {} : { usage: s.usage }) };
}

/**
 * Our own mistakes (bad input: the stores throw RangeError) are not Redis trouble: they surface
 * instead of degrading. Anything else from Redis or the client counts as Redis being away.
 */
function isBug(err: unknown): boolean {
  return err instanceof RangeError;
}

function unavailable(err: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`limit store unavailable: ${errorText(err)}`);
}

/** ioredis messages name the host and port at most, never credentials. */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
