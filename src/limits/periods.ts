/** Budget periods in UTC: the id of the period a moment falls in, and when it ends. */

export const PERIODS = ['day', 'month', 'total'] as const;
export type Period = (typeof PERIODS)[number];

/** `d2026-11-28`, `m2026-11`, `total`: part of the counter's key, so a new period starts at zero. */
export function periodId(period: Period, now: Date): string {
  return periodIds(now)[period];
}

const DAY_MS = 86_400_000;
/** The last day asked for: every request of a day asks for the same ids (one object a day). */
let lastDay: { readonly day: number; readonly ids: Readonly<Record<Period, string>> } | undefined;

/** The ids of all three periods a moment falls in, from one date formatting a day (the hot path's form). */
export function periodIds(now: Date): Readonly<Record<Period, string>> {
  const day = Math.floor(now.getTime() / DAY_MS);
  if (lastDay?.day === day) return lastDay.ids;
  const iso = now.toISOString();
  const ids = Object.freeze({ day: `d${iso.slice(0, 10)}`, month: `m${iso.slice(0, 7)}`, total: 'total' });
  lastDay = { day, ids };
  return ids;
}

/** Seconds until the period ends (for counter expiry), with a margin for reporting; none for total. */
export function periodTtlSeconds(period: Period, now: Date): number | undefined {
  if (period === 'total') return undefined;
  const end =
    period === 'day' ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  const margin = period === 'day' ? 2 * 86_400 : 35 * 86_400;
  return Math.ceil((end - now.getTime()) / 1000) + margin;
}

/** Seconds until the period rolls over (what a client waits for a budget to reset). */
export function secondsUntilReset(period: Period, now: Date): number | undefined {
  const ttl = periodTtlSeconds(period, now);
  if (ttl === undefined) return undefined;
  return ttl - (period === 'day' ? 2 * 86_400 : 35 * 86_400);
}
