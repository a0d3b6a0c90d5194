/** GCRA with a cost: bursts, refill, retry-after, reconciliation. Pure maths, no store. */
import { describe, expect, it } from 'vitest';
import { WINDOW_MS, gcra, gcraAdjust } from '../../src/limits/gcra.js';

/** A realistic epoch (2026-11-28 23:59:50 UTC): float rounding depends on the magnitude of `now`. */
const NOW = Date.UTC(2026, 10, 28, 23, 59, 50);

/** Admits `n` requests of `cost` at one instant; returns the decisions and the final TAT. */
function burst(opts: { limit: number; cost?: number; n: number; now?: number; tat?: number }) {
  let tat = opts.tat;
  const decisions = [];
  for (let i = 0; i < opts.n; i++) {
    const d = gcra({ tat, now: opts.now ?? NOW, limit: opts.limit, cost: opts.cost ?? 1 });
    decisions.push(d);
    if (d.allowed) tat = d.tat;
  }
  return { decisions, tat };
}

describe('gcra', () => {
  it('admits a burst of exactly `limit` requests, counting remaining down to 0', () => {
    const { decisions } = burst({ limit: 5, n: 6 });
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.slice(0, 5).map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    expect(decisions[5]).toMatchObject({ remaining: 0, retryAfterMs: 12_000, resetMs: 60_000 });
  });

  it('admits the whole burst for every limit up to 3000 at a real epoch (float rounding refused the last one)', () => {
    const wrong: string[] = [];
    for (let limit = 1; limit <= 3000; limit++) {
      const { decisions } = burst({ limit, n: limit + 1 });
      const admitted = decisions.filter((d) => d.allowed).length;
      const remaining = decisions.slice(0, limit).map((d) => d.remaining);
      if (admitted !== limit || remaining.some((r, i) => r !== limit - 1 - i)) wrong.push(`rpm ${limit}: admitted ${admitted}`);
    }
    expect(wrong).toEqual([]);
  });

  it('refills one interval at a time: the retry-after is the wait that gets the next request in', () => {
    const { decisions, tat } = burst({ limit: 9, n: 10 });
    const retry = decisions[9]?.retryAfterMs ?? 0;
    expect(retry).toBe(6667);
    expect(gcra({ tat, now: NOW + retry - 2, limit: 9, cost: 1 }).allowed).toBe(false);
    expect(gcra({ tat, now: NOW + retry, limit: 9, cost: 1 })).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('charges a cost in units: tokens reserve their count, and the wait is for the missing ones', () => {
    const first = gcra({ tat: undefined, now: NOW, limit: 1000, cost: 909 });
    expect(first).toMatchObject({ allowed: true, remaining: 91, resetMs: 909 * 60 });
    const second = gcra({ tat: first.tat, now: NOW, limit: 1000, cost: 209 });
    expect(second).toMatchObject({ allowed: false, remaining: 91, retryAfterMs: 118 * 60, tat: first.tat });
    expect(gcra({ tat: first.tat, now: NOW, limit: 1000, cost: 91 })).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('never admits a cost above the limit, and says so with an infinite retry-after', () => {
    expect(gcra({ tat: undefined, now: NOW, limit: 1000, cost: 1001 })).toMatchObject({ allowed: false, retryAfterMs: Infinity, remaining: 1000 });
  });

  it('does not bank unused capacity: a TAT in the past counts as now', () => {
    const idle = gcra({ tat: NOW - 10 * WINDOW_MS, now: NOW, limit: 3, cost: 1 });
    expect(idle).toMatchObject({ allowed: true, remaining: 2, tat: NOW + 20_000 });
  });

  it('with a large token limit, remaining stays exact (the slack never admits a unit of its own)', () => {
    const d = gcra({ tat: undefined, now: NOW, limit: 5_000_000, cost: 4_999_999 });
    expect(d.remaining).toBe(1);
    expect(gcra({ tat: d.tat, now: NOW, limit: 5_000_000, cost: 2 }).allowed).toBe(false);
  });
});

describe('gcraAdjust', () => {
  it('a refund moves the TAT back by the unused units', () => {
    const reserved = gcra({ tat: undefined, now: NOW, limit: 1000, cost: 109 });
    const tat = gcraAdjust({ tat: reserved.tat, now: NOW, limit: 1000, delta: 23 - 109 });
    expect(tat).toBe(NOW + 23 * 60);
    expect(gcra({ tat, now: NOW, limit: 1000, cost: 109 }).remaining).toBe(1000 - 23 - 109);
  });

  it('a refund never moves the TAT before now; a surcharge moves it forward', () => {
    expect(gcraAdjust({ tat: NOW + 60, now: NOW, limit: 1000, delta: -500 })).toBe(NOW);
    expect(gcraAdjust({ tat: undefined, now: NOW, limit: 1000, delta: 10 })).toBe(NOW + 600);
  });
});
