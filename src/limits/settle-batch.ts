/**
 * Settlements off the request path, coalesced: the Redis store queues each settlement's part
 * per route (the whole Redis, or one Cluster slot) and sends a route's queue as ONE script call
 * (SETTLE_BATCH_LUA): at the end of the event-loop turn, or when the route's previous batch
 * answers, or at once when it is full (see SettleBatcher). Redis then reads and writes each
 * counter once per batch instead of once per request, and the gateway makes one command for
 * many requests instead of two or three per request.
 *
 * A settlement's promise settles with its batch: rejected when the call fails, so the caller
 * (the resilient store) journals it and replays it; every entry is idempotent by request id,
 * so a batch whose reply was lost after Redis applied it is not counted twice. `flush()` sends
 * what is queued now and waits for every call in flight (shutdown: nothing is left behind).
 */
import { keyTable } from './redis-codec.js';

/** A usage hash, and how long it is kept (s; 0 = for good). */
export interface UsageHash {
  readonly id: string;
  readonly ttl: number;
}

/** One settlement's part in one slot: what SETTLE_BATCH_LUA applies for one entry. */
export interface BatchEntry {
  /** The caller's clock (ms) as a string, or '' for Redis's clock. */
  readonly now: string;
  /** The request id's idempotency key in this slot. */
  readonly idem: string;
  /** The reservation's mark: 'clear' deletes it, 'require' applies only if it is there. */
  readonly mark?: { readonly id: string; readonly mode: 'clear' | 'require' };
  /** What settlementDeltas gives: the counter, and how far to move it. */
  readonly rates: readonly { readonly check: { readonly id: string; readonly limit: number }; readonly delta: number }[];
  readonly budgets: readonly { readonly check: { readonly id: string; readonly ttlSeconds?: number }; readonly delta: number }[];
  readonly usage?: {
    readonly model: string;
    readonly inputTokens: number;
    readonly outputTokens: number;
    readonly costNanos: number;
    readonly keys: readonly UsageHash[];
  };
}

/** KEYS and ARGV of one SETTLE_BATCH_LUA call (see its comment for the layout): pure. */
export function encodeBatch(entries: readonly BatchEntry[], idemTtlSeconds: number): { keys: string[]; args: (string | number)[] } {
  const { keys, ref } = keyTable();
  const args: (string | number)[] = [idemTtlSeconds, entries.length];
  for (const e of entries) {
    const nu = e.usage?.keys.length ?? 0;
    args.push(e.now, ref(e.idem), e.mark === undefined ? 0 : ref(e.mark.id), e.mark?.mode ?? '', e.rates.length, e.budgets.length, nu);
    for (const r of e.rates) args.push(ref(r.check.id), r.check.limit, r.delta);
    for (const b of e.budgets) args.push(ref(b.check.id), b.delta, b.check.ttlSeconds ?? 0);
    if (e.usage !== undefined && nu > 0) {
      const u = e.usage;
      args.push(u.model, u.inputTokens, u.outputTokens, u.costNanos);
      for (const k of u.keys) args.push(ref(k.id), k.ttl);
    }
  }
  return { keys, args };
}

export interface SettleBatcherOptions {
  /** Sends one route's batch (one script call); resolves with its per-entry codes. */
  readonly send: (route: string, batch: { keys: string[]; args: (string | number)[] }) => Promise<unknown>;
  readonly idemTtlSeconds: number;
  /** How long the first settlement of a batch waits for others (ms); 0 (default): the end of this event-loop turn. */
  readonly delayMs?: number;
  /** A batch this full is sent at once (default 256 entries). */
  readonly maxEntries?: number;
}

interface Pending {
  readonly entries: BatchEntry[];
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Route {
  queue?: Pending;
  /** Batches of this route on their way: while one is, the next one fills (it goes when that one answers). */
  inFlight: number;
}

/**
 * The queue per route. A batch goes at the end of the event-loop turn its first entry came in
 * (or `delayMs` later), unless one of the route's batches is still on its way: then it fills
 * until that one answers. So a quiet gateway settles each request at once, and a busy one sends
 * one call per round trip, as large as the load makes it, with no timer to tune.
 */
export class SettleBatcher {
  private readonly routes = new Map<string, Route>();
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private readonly delayMs: number;
  private readonly maxEntries: number;

  constructor(private readonly opts: SettleBatcherOptions) {
    this.delayMs = opts.delayMs ?? 0;
    this.maxEntries = opts.maxEntries ?? 256;
  }

  /** Queues one entry on a route; the promise settles when its batch has been applied (or failed). */
  add(routeName: string, entry: BatchEntry): Promise<void> {
    let route = this.routes.get(routeName);
    if (route === undefined) {
      route = { inFlight: 0 };
      this.routes.set(routeName, route);
    }
    route.queue ??= pending();
    const q = route.queue;
    q.entries.push(entry);
    if (q.entries.length >= this.maxEntries) this.send(routeName, route);
    else if (route.inFlight === 0) this.schedule();
    return q.done;
  }

  /** Entries queued and not yet sent. */
  get queued(): number {
    let n = 0;
    for (const r of this.routes.values()) n += r.queue?.entries.length ?? 0;
    return n;
  }

  /** Nothing queued, nothing on its way. */
  idle(): boolean {
    return this.inFlight.size === 0 && this.queued === 0;
  }

  /**
   * Sends everything queued now and waits for it and every batch already on its way, not for
   * later ones (a read that must see earlier settlements; under load new ones keep coming).
   */
  async sendQueued(): Promise<void> {
    this.sendAll(true);
    await Promise.allSettled([...this.inFlight]);
  }

  /** Sends everything queued now and waits until nothing is queued or on its way (shutdown); never rejects. */
  async flush(): Promise<void> {
    do {
      this.sendAll(true);
      await Promise.allSettled([...this.inFlight]);
    } while (this.inFlight.size > 0 || this.queued > 0);
  }

  private schedule(): void {
    if (this.scheduled !== undefined) return;
    const fire = (): void => {
      this.scheduled = undefined;
      this.sendAll(false);
    };
    // A queued settlement is flushed by close(); the wait alone must not keep a process up.
    this.scheduled = this.delayMs > 0 ? setTimeout(fire, this.delayMs).unref() : setImmediate(fire).unref();
  }

  private sendAll(evenInFlight: boolean): void {
    for (const [name, route] of this.routes) if (evenInFlight || route.inFlight === 0) this.send(name, route);
  }

  private send(name: string, route: Route): void {
    const q = route.queue;
    if (q === undefined || q.entries.length === 0) return;
    route.queue = undefined;
    route.inFlight++;
    let call: Promise<unknown>;
    try {
      call = this.opts.send(name, encodeBatch(q.entries, this.opts.idemTtlSeconds));
    } catch (err) {
      call = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const sent = call.then(q.resolve, q.reject).then(() => {
      this.inFlight.delete(sent);
      route.inFlight--;
      // What filled meanwhile goes now: this is the turn its predecessor answered in.
      if (route.inFlight === 0 && route.queue !== undefined) this.send(name, route);
    });
    this.inFlight.add(sent);
  }
}

function pending(): Pending {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Settlements are awaited by their callers; a batch nobody awaits must not crash the process.
  done.catch(() => undefined);
  return { entries: [], done, resolve: () => resolve(), reject };
}
