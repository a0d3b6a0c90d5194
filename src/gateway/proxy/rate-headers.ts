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
  // One pass, no intermediate arrays: this runs on every admitted request.
  let requests: RateState | undefined;
  let tokens: RateState | undefined;
  for (const r of rates) {
    if (r.check.scope === 'model' && r.check !== denied) continue;
    if (r.check.unit === 'requests') requests = tighter(requests, r, denied);
    else tokens = tighter(tokens, r, denied);
  }
  const headers: Record<string, string> = {};
  if (requests !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(requests.check.limit);
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining);
    headers['x-ratelimit-reset-requests'] = formatReset(requests.resetMs);
  }
  if (tokens !== undefined) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.check.limit);
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
    headers['x-ratelimit-reset-tokens'] = formatReset(tokens.resetMs);
  }
  return headers;
}

/** The limit that refused the request, else the first with the fewest remaining. */
function tighter(best: RateState | undefined, r: RateState, denied: RateCheck | undefined): RateState {
  if (best === undefined || r.check === denied) return r;
  if (best.check === denied) return best;
  return r.remaining < best.remaining ? r : best;
}

export function retryAfterHeaders(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.max(1, Math.ceil(ms))) };
}
