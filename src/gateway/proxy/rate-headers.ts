/** OpenAI's x-ratelimit-* headers and Retry-After from the limiter's answer. Pure. */
import type { RateCheck, RateState } from '../../limits/store.js';

/** 1500 → "1.5s", 360000 → "6m0s", 20 → "20ms": the format OpenAI's reset headers use. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${whole % 60}s`;
}

/**
 * The tightest of the key's own limits (key and key×model scopes) per unit; on a 429, the limit
 * that refused the request whatever its scope (a model's fleet-wide one too), so the headers
 * explain the refusal.
 */
export function rateLimitHeaders(rates: readonly RateState[], denied?: RateCheck): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const unit of ['requests', 'tokens'] as const) {
    const mine = rates.filter((r) => r.check.unit === unit && (r.check.scope !== 'model' || r.check === denied));
    if (mine.length === 0) continue;
    const tightest = mine.find((r) => r.check === denied) ?? mine.reduce((a, b) => (b.remaining < a.remaining ? b : a));
    headers[`x-ratelimit-limit-${unit}`] = String(tightest.check.limit);
    headers[`x-ratelimit-remaining-${unit}`] = String(tightest.remaining);
    headers[`x-ratelimit-reset-${unit}`] = formatReset(tightest.resetMs);
  }
  return headers;
}

export function retryAfterHeaders(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.max(1, Math.ceil(ms))) };
}
