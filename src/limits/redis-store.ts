/**
 * The fleet store: limits and usage in Redis, shared by every gateway replica.
 *
 * admit is one round trip: one Lua script (redis-scripts.ts) decides every check of the request
 * atomically with Redis's clock and writes only if all pass. The admits of one event-loop turn
 * share that call (admit-batch.ts), each still decided on its own, in arrival order. On Redis Cluster a script may touch
 * one slot only: a key's checks share a `{hash tag}` (plan.ts) and go first; a model's
 * fleet-wide checks live in another slot, a second call, and if that one denies, the key's
 * reservation is refunded so admit stays all-or-nothing.
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
 * slot, guarded by a `SET … NX EX <replay window>` on the request id, so a replayed settlement is a no-op.
 * It is off the request path and coalesced (settle-batch.ts): the settlements of one event-loop
 * turn, or of one round trip under load, go to Redis as one script call, which reads and writes
 * each counter once. Its promise settles with that call; `close()` sends what is queued first.
 *
 * An admit that reserved leaves a mark in the key's slot until its settlement deletes it (or
 * the replay window passes: a request never settled, its pod gone). An admit whose reply was
 * lost (Redis SIGKILLed after writing, a timeout) is undone by a refund that requires the mark
 * (undoAdmit): applied once if Redis held the reservation, a no-op if not. Without it a
 * fail-open pod charged such a request twice: the lost reservation, and the actual use of its
 * fallback admit. Only the key's slot is marked (budgets all live there); a model's fleet-wide
 * TAT heals within its window.
 */
import { PERIODS, periodIdsAt, type Period } from './periods.js';
import { keyTag, settlementDeltas } from './plan.js';
import { ADMIT_BATCH_LUA, PEEK_LUA, SETTLE_BATCH_LUA } from './redis-scripts.js';
import { AdmitBatcher, type AdmitReply } from './admit-batch.js';
import { RedisScript } from './redis-script.js';
import { type BatchEntry, SettleBatcher, type UsageHash } from './settle-batch.js';
import { gcraPeek } from './gcra.js';
import { type SlotChecks, type SlotVerdict, parseAdmitReply, rowsOf, slotsOf, tagOf, validate, validateSettlement } from './redis-codec.js';
import { connectRedis, waitReady, type RedisClient, type RedisConnectOptions } from './redis-connect.js';
import type { AdmitRequest, AdmitResult, LimitStore, RateCheck, RateState, Settlement, UsageRecord, UsageRow } from './store.js';
import type { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Reads (a key holder's GET /key): rare, so ioredis's own script command. */
    tokenhubPeek(numKeys: number, ...args: (string | number)[]): Result<string[], Context>;
  }
}

/** The batch scripts, called with their arguments laid out flat (redis-script.ts says why). */
const ADMIT_SCRIPT = new RedisScript(ADMIT_BATCH_LUA);
const SETTLE_SCRIPT = new RedisScript(SETTLE_BATCH_LUA);

/**
 * How long a settled request id is remembered (replays after that would count twice): an hour,
 * longer than the outages whose journal a pod replays. Each id is a small key (~100 bytes): a day
 * of them at 1,000 requests a second was ~8 GB of Redis; an hour is ~0.35 GB.
 */
export const REPLAY_WINDOW_S = 3600;
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
   * How long settled request ids are kept so replays are no-ops (default 1 h,
   * TOKENHUB_REDIS_REPLAY_WINDOW_SECONDS). Each costs a small key in Redis: longer windows cover
   * longer outages, at the price of memory (requests a second × window × ~100 bytes).
   */
  readonly replayWindowSeconds?: number;
  /** How long a settlement waits to be sent with others (ms); default 0: the end of the event-loop turn (settle-batch.ts). */
  readonly settleDelayMs?: number;
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

export class RedisLimitStore implements LimitStore {
  readonly name = 'redis';
  readonly client: RedisClient;
  /** Where settlement batches go: a second connection on one Redis, the same client on a Cluster. */
  private readonly settleClient: RedisClient;
  private readonly callerClock: boolean;
  private readonly replayWindowS: number;
  /**
   * (key, period) pairs this instance indexed lately, until when: the index is a set, so
   * re-adding is harmless but costs five commands a settlement. Re-added every minute anyway,
   * so a Redis that lost its data is re-indexed soon.
   */
  private readonly indexed = new Map<string, number>();
  /** Redis Cluster: a script call may touch one slot only, so admits and settlements go per slot. */
  private readonly sharded: boolean;
  private readonly batcher: SettleBatcher;
  /** Admits of one event-loop turn go as one call per route (admit-batch.ts). */
  private readonly admits: AdmitBatcher;
  /** Usage hash ids per key, for the day they were made (periodIds gives one object a day). */
  private readonly usageKeys = new Map<string, { pids: Readonly<Record<Period, string>>; keys: readonly UsageHash[] }>();

  constructor(opts: RedisStoreOptions) {
    if (opts.client === undefined && opts.url === undefined) throw new TypeError('RedisLimitStore needs a url or a client');
    this.client = opts.client ?? connectRedis({ ...opts, url: opts.url ?? '' });
    // Errors reach callers through the commands; without a listener ioredis would log each one.
    this.client.on('error', () => undefined);
    this.client.defineCommand('tokenhubPeek', { lua: PEEK_LUA });
    // Settlement batches on a connection of their own (one Redis): a connection answers in order,
    // so on the admits' connection an admit batch sent behind a settlement batch would wait for
    // that (larger) script's answer. A Cluster client keeps one connection per node.
    this.settleClient = this.client.isCluster ? this.client : this.client.duplicate();
    if (this.settleClient !== this.client) {
      this.settleClient.on('error', () => undefined);
    }
    this.callerClock = opts.clock === 'caller';
    this.replayWindowS = opts.replayWindowSeconds ?? REPLAY_WINDOW_S;
    this.sharded = this.client.isCluster;
    this.admits = new AdmitBatcher({
      send: (_route, b) => ADMIT_SCRIPT.call(this.client, b.keys, b.args) as Promise<AdmitReply[]>,
      markTtlSeconds: this.replayWindowS,
    });
    this.batcher = new SettleBatcher({
      send: (_route, b) => SETTLE_SCRIPT.call(this.settleClient, b.keys, b.args),
      idemTtlSeconds: this.replayWindowS,
      ...(opts.settleDelayMs === undefined ? {} : { delayMs: opts.settleDelayMs }),
    });
  }

  /** Waits for the connection: false after `timeoutMs` (the client keeps trying), or at the first error with `failFast`. */
  ready(timeoutMs = 2000, opts: { failFast?: boolean } = {}): Promise<boolean> {
    const ready = (c: RedisClient): Promise<boolean> => waitReady(c, { timeoutMs, ...opts });
    if (this.settleClient === this.client) return ready(this.client);
    return Promise.all([ready(this.client), ready(this.settleClient)]).then(([a, b]) => a && b);
  }

  async ping(): Promise<void> {
    // Both connections: a store whose settlements cannot go is not back yet.
    await Promise.all(this.settleClient === this.client ? [this.client.ping()] : [this.client.ping(), this.settleClient.ping()]);
  }

  async admit(req: AdmitRequest, now: number): Promise<RedisAdmitResult> {
    validate(req);
    if (req.rates.length + req.budgets.length === 0) return { allowed: true, rates: [], budgetsUsed: new Map() };
    if (this.sharded) return this.admitBySlot(req, now);
    // One Redis: every check in one call, all-or-nothing by itself.
    const verdict = await this.admitSlot({ tag: '', rates: req.rates, budgets: req.budgets }, now, reservationMark(req.keyId, req.requestId));
    const budgetsUsed = new Map(verdict.budgetsUsed);
    if (verdict.denial !== undefined) return { allowed: false, denial: verdict.denial, rates: verdict.states, budgetsUsed };
    return { allowed: true, rates: verdict.states, budgetsUsed };
  }

  /** Redis Cluster: the key's slot first, then the model's; a later denial refunds the earlier slots. */
  private async admitBySlot(req: AdmitRequest, now: number): Promise<RedisAdmitResult> {
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

  settle(s: Settlement, now: number): Promise<void> {
    validateSettlement(s);
    const usage = s.usage;
    const pids = usage === undefined ? undefined : periodIdsAt(usage.at);
    const parts = this.entriesOf(s, now, pids);
    const sent: Promise<void>[] = [];
    for (const [route, entry] of parts) sent.push(this.batcher.add(route, entry));
    // Idempotent, and a failed settle is replayed whole: sent beside the batch, not before it.
    if (usage !== undefined && pids !== undefined) {
      const indexing = this.indexUsage(usage.keyId, pids);
      if (indexing !== undefined) sent.push(indexing);
    }
    return sent.length === 1 ? (sent[0] as Promise<void>) : Promise.all(sent).then(() => undefined);
  }

  /**
   * A settlement's batch entries by route: one entry on one Redis; per slot on a Cluster. The
   * key's slot always has one: it records the request id even when nothing changes, and clears
   * (or, for an undo, requires) the reservation's mark; it also carries the usage record.
   */
  private entriesOf(s: Settlement, now: number, pids: Readonly<Record<Period, string>> | undefined): [string, BatchEntry][] {
    const { keyId, requestId } = s.reservation;
    const deltas = settlementDeltas({ ...s.reservation, actual: s.actual, ...(s.failedAttempt === undefined ? {} : { failedAttempt: s.failedAttempt }) });
    const keySlot = tagOf(keyTag(keyId));
    // An undo cannot tell whether another slot's reservation was made (on a Cluster): those TATs
    // heal by themselves, so it refunds the key's counters only, on one Redis as on a Cluster.
    const undo = s.reserved === 'unknown';
    const ownSlot = (id: string): boolean => tagOf(id) === keySlot;
    const usage = s.usage;
    const own: BatchEntry = {
      now: this.callerClock ? String(now) : '',
      idem: `${keyTag(keyId)}:s:${requestId}`,
      rates: this.sharded || undo ? deltas.rates.filter((d) => ownSlot(d.check.id)) : deltas.rates,
      budgets: this.sharded || undo ? deltas.budgets.filter((d) => ownSlot(d.check.id)) : deltas.budgets,
      ...(s.reserved === false
        ? {}
        : {
            mark: {
              id: reservationMark(keyId, undo && requestId.endsWith(REFUND_SUFFIX) ? requestId.slice(0, -REFUND_SUFFIX.length) : requestId),
              mode: undo ? 'require' : 'clear',
            },
          }),
      ...(usage === undefined || pids === undefined ? {} : { usage: { ...usageOf(usage), keys: this.usageKeysOf(usage.keyId, pids) } }),
    };
    if (!this.sharded) return [['', own]];
    const entries: [string, BatchEntry][] = [[keySlot, own]];
    if (undo) return entries;
    // Cluster: the other slots' counters (a model's fleet-wide ones), each under its own idempotency key.
    const others = new Map<string, { rates: (typeof deltas.rates)[number][]; budgets: (typeof deltas.budgets)[number][] }>();
    const other = (id: string): { rates: (typeof deltas.rates)[number][]; budgets: (typeof deltas.budgets)[number][] } => {
      const tag = tagOf(id);
      const e = others.get(tag) ?? { rates: [], budgets: [] };
      others.set(tag, e);
      return e;
    };
    for (const d of deltas.rates) if (!ownSlot(d.check.id)) other(d.check.id).rates.push(d);
    for (const d of deltas.budgets) if (!ownSlot(d.check.id)) other(d.check.id).budgets.push(d);
    for (const [tag, e] of others) entries.push([tag, { now: own.now, idem: `th:{${tag}}:s:${requestId}`, ...e }]);
    return entries;
  }

  /** The key's usage hashes of the three periods with their retention; the same array while the day lasts. */
  private usageKeysOf(keyId: string, pids: Readonly<Record<Period, string>>): readonly UsageHash[] {
    const cached = this.usageKeys.get(keyId);
    if (cached !== undefined && cached.pids === pids) return cached.keys;
    const keys = PERIODS.map((p) => ({ id: usageKey(keyId, pids[p]), ttl: USAGE_RETENTION_S[p] }));
    if (this.usageKeys.size >= 10_000) this.usageKeys.clear();
    this.usageKeys.set(keyId, { pids, keys });
    return keys;
  }

  async usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]> {
    await this.readOwnWrites();
    const keyIds = query.keyId !== undefined ? [query.keyId] : await this.client.smembers(usageIndexKey(query.periodId));
    const hashes = await Promise.all(keyIds.map(async (k) => ({ keyId: k, fields: await this.client.hgetall(usageKey(k, query.periodId)) })));
    return hashes.flatMap((h) => rowsOf(h.keyId, h.fields)).sort((a, b) => a.keyId.localeCompare(b.keyId) || a.model.localeCompare(b.model));
  }

  async peek(rates: readonly RateCheck[], now: number): Promise<RateState[]> {
    await this.readOwnWrites();
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
    await this.readOwnWrites();
    return Number((await this.client.get(id)) ?? 0);
  }

  async credit(id: string, amount: number): Promise<void> {
    if (!Number.isSafeInteger(amount)) throw new RangeError('credit amount must be an integer');
    await this.client.decrby(id, amount);
  }

  /**
   * Reads (a key holder's GET /key and /usage, the CLI) see every settlement this store took
   * before them: the batches held back go first. Reads are rare; admits never wait for this.
   */
  private readOwnWrites(): Promise<void> {
    return this.batcher.idle() ? Promise.resolve() : this.batcher.sendQueued();
  }

  /** Sends the queued settlements now and waits for every batch in flight (never rejects). */
  flushSettlements(): Promise<void> {
    return this.batcher.flush();
  }

  async close(): Promise<void> {
    // Queued settlements first: their callers (the resilient store) journal any that fail.
    await this.batcher.flush();
    const quit = async (c: RedisClient): Promise<void> => {
      try {
        await c.quit();
      } catch {
        c.disconnect();
      }
    };
    await Promise.all(this.settleClient === this.client ? [quit(this.client)] : [quit(this.client), quit(this.settleClient)]);
  }

  private async admitSlot(slot: SlotChecks, now: number, mark: string | undefined): Promise<SlotVerdict> {
    const entry = { now: this.callerClock ? String(now) : '', rates: slot.rates, budgets: slot.budgets, ...(mark === undefined ? {} : { mark }) };
    // The route is the slot's tag ('' on one Redis): a Cluster call may touch one slot only.
    return parseAdmitReply(slot, await this.admits.add(slot.tag, entry));
  }

  /** Adds the key to its periods' usage index, at most once a minute per key and periods; undefined when done lately. */
  private indexUsage(keyId: string, pids: Readonly<Record<Period, string>>): Promise<void> | undefined {
    const memo = `${keyId}\n${pids.day} ${pids.month}`;
    const now = Date.now();
    if ((this.indexed.get(memo) ?? 0) > now) return undefined;
    if (this.indexed.size >= 10_000) this.indexed.clear();
    this.indexed.set(memo, now + 60_000);
    const calls = PERIODS.flatMap((period) => {
      const ttl = USAGE_RETENTION_S[period];
      const id = usageIndexKey(pids[period]);
      // Six small commands once a minute per key; the EXPIRE keeps pushing out a live period's end.
      return [this.client.sadd(id, keyId), ...(ttl > 0 ? [this.client.expire(id, ttl)] : [])];
    });
    return Promise.all(calls).then(
      () => undefined,
      (err: unknown) => {
        // Not indexed after all: the next settlement of this key tries again.
        this.indexed.delete(memo);
        throw err;
      },
    );
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

const usageOf = (u: UsageRecord): { model: string; inputTokens: number; outputTokens: number; costNanos: number } => ({
  model: u.model,
  inputTokens: u.inputTokens,
  outputTokens: u.outputTokens,
  costNanos: u.costNanos,
});

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
