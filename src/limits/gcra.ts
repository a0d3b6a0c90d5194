/**
 * GCRA (generic cell rate algorithm) with a cost: the rate-limit maths shared by the in-memory
 * store and, line for line, by the Redis Lua script. One number of state per limit: the
 * theoretical arrival time (TAT) in ms. A limit of L per minute admits bursts of up to L.
 */

export const WINDOW_MS = 60_000;

export interface GcraDecision {
  readonly allowed: boolean;
  /** The new TAT to store when allowed (unchanged state otherwise). */
  readonly tat: number;
  /** Units still admissible right now after this decision. */
  readonly remaining: number;
  /** ms until the limit is fully replenished. */
  readonly resetMs: number;
  /** ms to wait before the same cost would be admitted (0 when allowed, Infinity when never). */
  readonly retryAfterMs: number;
}

/**
 * Rounding slack, in ms. TATs are epoch ms in doubles and an interval like 60000/9 is inexact:
 * N requests of a burst land N roundings (each up to ~1.2e-4 ms at today's epoch) past the exact
 * TAT, which refused the 9th request of an rpm-9 limit. Within the slack, "at the window" counts
 * as at it. Capped at half an interval, so the slack alone never admits a unit.
 */
const MAX_SLACK_MS = 1;
const slackOf = (interval: number): number => Math.min(MAX_SLACK_MS, interval / 2);

/** Decides whether `cost` units fit under `limit` per minute, given the stored TAT. */
export function gcra(opts: { tat: number | undefined; now: number; limit: number; cost: number }): GcraDecision {
  const { now, limit, cost } = opts;
  const interval = WINDOW_MS / limit;
  const base = Math.max(opts.tat ?? now, now);
  const newTat = base + cost * interval;
  const used = newTat - now;
  if (cost > limit) {
    return { allowed: false, tat: base, remaining: remainingOf(base - now, interval, limit), resetMs: base - now, retryAfterMs: Infinity };
  }
  if (used > WINDOW_MS + slackOf(interval)) {
    return {
      allowed: false,
      tat: base,
      remaining: remainingOf(base - now, interval, limit),
      resetMs: base - now,
      retryAfterMs: Math.ceil(used - WINDOW_MS),
    };
  }
  return { allowed: true, tat: newTat, remaining: remainingOf(used, interval, limit), resetMs: used, retryAfterMs: 0 };
}

function remainingOf(usedMs: number, interval: number, limit: number): number {
  return Math.max(0, Math.min(limit, Math.floor((WINDOW_MS - usedMs + slackOf(interval)) / interval)));
}

/**
 * Reconciles a reservation with what was really used: moves the TAT by (actual − reserved)
 * intervals. A refund never moves it before `now` (unused capacity does not accumulate).
 */
export function gcraAdjust(opts: { tat: number | undefined; now: number; limit: number; delta: number }): number {
  const base = opts.tat ?? opts.now;
  return Math.max(opts.now, base + opts.delta * (WINDOW_MS / opts.limit));
}

/** What a limit would still admit at `now` with the stored TAT, without changing it. */
export function gcraPeek(opts: { tat: number | undefined; now: number; limit: number }): { remaining: number; resetMs: number } {
  const interval = WINDOW_MS / opts.limit;
  const used = Math.max(0, (opts.tat ?? opts.now) - opts.now);
  return { remaining: remainingOf(used, interval, opts.limit), resetMs: used };
}
