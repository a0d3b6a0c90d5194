/** Budget periods in UTC: the id of the period a moment falls in, and when it ends. */

export const PERIODS = ['day', 'month', 'total'] as const;
export type Period = (typeof PERIODS)[number];

/** `d2026-11-28`, `m2026-11`, `total`: part of the counter's key, so a new period starts at zero. */
export function periodId(period: Period, now: Date): string {
  return periodIds(now)[period];
}

const DAY_MS = 86_400_000;

/** One UTC day's period ids and period ends (epoch ms): made once a day, shared by its requests. */
interface DayPeriods {
  readonly day: number;
  readonly ids: Readonly<Record<Period, string>>;
  readonly dayEndMs: number;
  readonly monthEndMs: number;
}
/** The last day asked for: every request of a day asks for the same ids (one object a day). */
let lastDay: DayPeriods | undefined;

function dayPeriods(nowMs: number): DayPeriods {
  const day = Math.floor(nowMs / DAY_MS);
  if (lastDay?.day === day) return lastDay;
  const now = new Date(nowMs);
  const iso = now.toISOString();
  const ids = Object.freeze({ day: `d${iso.slice(0, 10)}`, month: `m${iso.slice(0, 7)}`, total: 'total' });
  lastDay = {
    day,
    ids,
    dayEndMs: Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1),
    monthEndMs: Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1),
  };
  return lastDay;
}

/** The ids of all three periods a moment falls in, from one date formatting a day. */
export function periodIds(now: Date): Readonly<Record<Period, string>> {
  return dayPeriods(now.getTime()).ids;
}

/** periodIds of a moment in epoch ms (the hot path's form: no Date per request). */
export function periodIdsAt(nowMs: number): Readonly<Record<Period, string>> {
  return dayPeriods(nowMs).ids;
}

/** Seconds until the period ends (for counter expiry), with a margin for reporting; none for total. */
export function periodTtlSeconds(period: Period, now: Date): number | undefined {
  return periodTtlSecondsAt(period, now.getTime());
}

/** periodTtlSeconds of a moment in epoch ms. */
export function periodTtlSecondsAt(period: Period, nowMs: number): number | undefined {
  if (period === 'total') return undefined;
  const p = dayPeriods(nowMs);
  const end = period === 'day' ? p.dayEndMs : p.monthEndMs;
  const margin = period === 'day' ? 2 * 86_400 : 35 * 86_400;
  return Math.ceil((end - nowMs) / 1000) + margin;
}

/** Seconds until the period rolls over (what a client waits for a budget to reset). */
export function secondsUntilReset(period: Period, now: Date): number | undefined {
  const ttl = periodTtlSeconds(period, now);
  if (ttl === undefined) return undefined;
  return ttl - (period === 'day' ? 2 * 86_400 : 35 * 86_400);
}
