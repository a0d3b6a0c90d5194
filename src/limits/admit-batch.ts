/**
 * Admits coalesced per event-loop turn: the Redis store queues each request's checks per route
 * (the whole Redis, or one Cluster slot) and sends a route's queue as ONE script call
 * (ADMIT_BATCH_LUA) at the end of the turn, or at once when it is full. Each request is still
 * decided atomically and in arrival order inside the script and gets its own answer; what a
 * batch saves is per call: one command to write, parse and answer instead of one per request,
 * and in Redis each counter read once and written once per batch instead of once per request.
 *
 * Only requests that arrived in the same turn share a call, so a quiet gateway still sends each
 * admit at once (the end of the turn is microseconds away). Unlike settlements, a batch never
 * waits for an earlier one to answer: an admit is on the request path.
 *
 * A failed call fails every admit in it (each caller then journals the undo of its own admit,
 * see resilient-store.ts: the marks make those undos exact). Input checks (validate) run before
 * a request is queued, so one bad request cannot fail the others.
 */
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

export class AdmitBatcher {
  private readonly queues = new Map<string, Queued[]>();
  private scheduled: NodeJS.Immediate | undefined;
  private readonly maxEntries: number;

  constructor(private readonly opts: AdmitBatcherOptions) {
    this.maxEntries = opts.maxEntries ?? 64;
  }

  /** Queues one entry on a route; resolves with its own answer when its batch's call does. */
  add(route: string, entry: AdmitEntry): Promise<AdmitReply> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(route);
      if (queue === undefined) {
        queue = [];
        this.queues.set(route, queue);
      }
      queue.push({ entry, resolve, reject });
      if (queue.length >= this.maxEntries) this.send(route, queue);
      else this.scheduled ??= setImmediate(() => this.sendAll());
    });
  }

  private sendAll(): void {
    this.scheduled = undefined;
    for (const [route, queue] of this.queues) this.send(route, queue);
  }

  private send(route: string, queue: Queued[]): void {
    this.queues.delete(route);
    if (queue.length === 0) return;
    let call: Promise<AdmitReply[]>;
    try {
      call = this.opts.send(
        route,
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
      },
      (err: unknown) => {
        for (const q of queue) q.reject(err);
      },
    );
  }
}
