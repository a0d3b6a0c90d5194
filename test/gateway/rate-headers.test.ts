/** x-ratelimit-* and Retry-After headers from the limiter's answer. Pure. */
import { describe, expect, it } from 'vitest';
import { formatReset, rateLimitHeaders, retryAfterHeaders } from '../../src/gateway/proxy/rate-headers.js';
import type { RateCheck, RateState } from '../../src/limits/store.js';

const check = (scope: RateCheck['scope'], unit: RateCheck['unit'], limit: number): RateCheck => ({ id: `${scope}:${unit}`, scope, unit, limit, cost: 1 });
const state = (c: RateCheck, remaining: number, resetMs = 1500): RateState => ({ check: c, remaining, resetMs });

describe('formatReset', () => {
  it.each([
    [20, '20ms'],
    [0.2, '1ms'],
    [1500, '1.5s'],
    [59_999, '59.999s'],
    [360_000, '6m0s'],
    [61_000, '1m1s'],
    // rounding to 60 s carries into the minutes (it printed 1m60s)
    [119_700, '2m0s'],
  ])('%d ms → %s', (ms, text) => expect(formatReset(ms)).toBe(text));
});

describe('rateLimitHeaders', () => {
  const keyRpm = check('key', 'requests', 100);
  const keyModelRpm = check('key-model', 'requests', 10);
  const fleetRpm = check('model', 'requests', 2);
  const keyTpm = check('key', 'tokens', 1000);

  it("shows the tightest of the key's own limits per unit, not the fleet-wide one", () => {
    const h = rateLimitHeaders([state(keyRpm, 50), state(keyModelRpm, 3), state(fleetRpm, 0), state(keyTpm, 900, 6000)]);
    expect(h).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '3',
      'x-ratelimit-reset-requests': '1.5s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '900',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  it('on a refusal, shows the limit that refused, whatever its scope', () => {
    const h = rateLimitHeaders([state(keyRpm, 50), state(fleetRpm, 0, 30_000)], fleetRpm);
    expect(h).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30s' });
  });

  it('says nothing of units without a limit', () => {
    expect(rateLimitHeaders([])).toEqual({});
  });
});

describe('retryAfterHeaders', () => {
  it('whole seconds rounded up (at least 1) and exact milliseconds', () => {
    expect(retryAfterHeaders(6666.7)).toEqual({ 'retry-after': '7', 'retry-after-ms': '6667' });
    expect(retryAfterHeaders(0.2)).toEqual({ 'retry-after': '1', 'retry-after-ms': '1' });
  });
});
