/**
 * Admits coalesced: the Redis store queues each request's checks per route (the whole Redis, or
 * one Cluster slot) and sends a route's queue as ONE script call (ADMIT_BATCH_LUA) at the end of
 * the event-loop turn, or, while the route's previous batch is on its way, when that one
 * answers (at once when full). Each request is still decided atomically and in arrival order
 * inside the script and gets its own answer; what a batch saves is per call: one command to
 * write, parse and answer instead of one per request, and in Redis each counter read once and
 * written once per batch instead of once per request.
 *
 * A quiet gateway sends each admit at once (the end of the turn is microseconds away); a busy one
 * sends one call per round trip, as large as the load makes it. Waiting for the previous batch
 * adds little: a connection answers in order, so a later call could not answer before it. This
 * is what ioredis's auto-pipelining did, without its Pipeline object per write (it is off, see
 * redis-connect.ts).
 *
 * A failed call fails every admit in it (each caller then journals the undo of its own admit,
 * see resilient-store.ts: the marks make those undos exact). Input checks (validate) run before
 * a request is queued, so one bad request cannot fail the others.
 */
import { keyTable } from './redis-codec.js';
import type { BudgetCheck, RateCheck } from './store.js';

/** One request's checks in one slot: what ADMIT_BATCH_LUA decides for one entry. */
export interface AdmitEntry {
  /** The caller's clock (ms) as a string, or '' for Redis's clock. */
  readonly now: string;
  readonly rates: readonly Pick<RateCheck, 'id' | 'limit' | 'cost'>[];
  readonly budgets: readonly Pick<BudgetCheck, 'id' | 'limit' | 'cost' | 'ttlSeconds'>[];
  /** The reservation's mark (the key's slot only): set when the entry is admitted. */
  readonly mark?: string;
}

/** One entry's answer: see ADMIT_BATCH_LUA for the layout (parseAdmitReply reads it). */
export type AdmitReply = (string | number)[];

/** KEYS and ARGV of one ADMIT_BATCH_LUA call (see its comment for the layout): pure. */
export function encodeAdmitBatch(entries: readonly AdmitEntry[], markTtlSeconds: number): { keys: string[]; args: (string | number)[] } {
  // Counters first (the script reads them with one MGET), each once; marks after them.
  const { keys, ref } = keyTable();
  for (const e of entries) {
    for (const r of e.rates) ref(r.id);
    for (const b of e.budgets) ref(b.id);
  }
  const counters = keys.length;
  const args: (string | number)[] = [markTtlSeconds, counters, entries.length];
  for (const e of entries) {
    args.push(e.now, e.rates.length, e.budgets.length, e.mark === undefined ? 0 : keys.push(e.mark));
    for (const r of e.rates) args.push(ref(r.id), r.limit, r.cost);
    for (const b of e.budgets) args.push(ref(b.id), b.limit, b.cost, b.ttlSeconds ?? 0);
  }
  return { keys, args };
}

export interface AdmitBatcherOptions {
  /** Sends one route's batch (one script call); resolves with one reply per entry, in order. */
  readonly send: (route: string, batch: { keys: string[]; args: (string | number)[] }) => Promise<AdmitReply[]>;
  readonly markTtlSeconds: number;
  /**
   * A batch this full is sent at once (default 64 entries): a script blocks Redis while it runs
   * (a few µs an entry), and every request in it waits for the whole batch.
   */
  readonly maxEntries?: number;
}

interface Queued {
  readonly entry: AdmitEntry;
  readonly resolve: (reply: AdmitReply) => void;
  readonly reject: (err: unknown) => void;
}

interface Route {
  queue: Queued[];
  /** Batches of this route on their way: while one is, the queue fills (it goes when that one answers). */
  inFlight: number;
}

export class AdmitBatcher {
  private readonly routes = new Map<string, Route>();
  private scheduled: NodeJS.Immediate | undefined;
  private readonly maxEntries: number;

  constructor(private readonly opts: AdmitBatcherOptions) {
    this.maxEntries = opts.maxEntries ?? 64;
  }

  /** Queues one entry on a route; resolves with its own answer when its batch's call does. */
  add(routeName: string, entry: AdmitEntry): Promise<AdmitReply> {
    return new Promise((resolve, reject) => {
      let route = this.routes.get(routeName);
      if (route === undefined) {
        route = { queue: [], inFlight: 0 };
        this.routes.set(routeName, route);
      }
      route.queue.push({ entry, resolve, reject });
      if (route.queue.length >= this.maxEntries) this.send(routeName, route);
      else if (route.inFlight === 0) this.scheduled ??= setImmediate(() => this.sendIdle());
    });
  }

  /** The end of a turn: every route with nothing on its way sends what it queued. */
  private sendIdle(): void {
    this.scheduled = undefined;
    for (const [name, route] of this.routes) if (route.inFlight === 0) this.send(name, route);
  }

  private send(name: string, route: Route): void {
    const queue = route.queue;
    if (queue.length === 0) return;
    route.queue = [];
    route.inFlight++;
    let call: Promise<AdmitReply[]>;
    try {
      call = this.opts.send(
        name,
        encodeAdmitBatch(
          queue.map((q) => q.entry),
          this.opts.markTtlSeconds,
        ),
      );
    } catch (err) {
      call = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    call.then(
      (replies) => {
        queue.forEach((q, i) => {
          const reply = replies[i];
          if (Array.isArray(reply)) q.resolve(reply);
          else q.reject(new Error('limit store: an admit batch answered fewer entries than it was sent'));
        });
        this.answered(name, route);
      },
      (err: unknown) => {
        for (const q of queue) q.reject(err);
        this.answered(name, route);
      },
    );
  }

  private answered(name: string, route: Route): void {
    route.inFlight--;
    // What queued meanwhile goes now: this is the turn its predecessor answered in.
    if (route.inFlight === 0) this.send(name, route);
  }
}
