/** The per-pod count of a key's requests in flight. Pure. */
import { describe, expect, it } from 'vitest';
import { InFlightCounter } from '../../src/limits/in-flight.js';

describe('InFlightCounter', () => {
  it('admits up to the limit per key, and again after a release', () => {
    const c = new InFlightCounter();
    expect([c.tryAcquire('a', 2), c.tryAcquire('a', 2), c.tryAcquire('a', 2)]).toEqual([true, true, false]);
    expect(c.tryAcquire('b', 2)).toBe(true);
    c.release('a');
    expect(c.inFlight('a')).toBe(1);
    expect(c.tryAcquire('a', 2)).toBe(true);
  });

  it('forgets a key with nothing in flight, and never goes below zero', () => {
    const c = new InFlightCounter();
    c.tryAcquire('a', 1);
    c.release('a');
    c.release('a');
    expect(c.inFlight('a')).toBe(0);
    expect(c.tryAcquire('a', 1)).toBe(true);
    expect(c.tryAcquire('a', 1)).toBe(false);
  });
});
