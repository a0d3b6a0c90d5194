/** TurnBudget: slices of serving-thread work end by time, not by count (issue #13). Pure: a fake clock. */
import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../../src/gateway/config/turn-budget.js';

function fakeClock(): { now: () => number; advance: (ms: number) => void; reads: () => number } {
  let t = 0;
  let reads = 0;
  return {
    now: () => {
      reads++;
      return t;
    },
    advance: (ms) => void (t += ms),
    reads: () => reads,
  };
}

describe('TurnBudget', () => {
  it('is due once its slice has used the time, whatever the number of items, and starts over after a turn', async () => {
    const clock = fakeClock();
    const budget = new TurnBudget({ sliceMs: 1, now: clock.now, turn: async () => undefined });
    // Cheap items: 10,000 in a slice that never reaches 1 ms are never due.
    for (let i = 0; i < 10_000; i++) expect(budget.due()).toBe(false);
    // One slow item (2 ms): due within the next 64 items, not 2,500 later.
    clock.advance(2);
    let items = 0;
    while (!budget.due()) items++;
    expect(items).toBeLessThan(64);
    await budget.yield();
    expect(budget.turns).toBe(1);
    for (let i = 0; i < 1_000; i++) expect(budget.due()).toBe(false);
  });

  it('reads the clock once per 64 items, not per item', () => {
    const clock = fakeClock();
    const budget = new TurnBudget({ now: clock.now });
    const before = clock.reads();
    for (let i = 0; i < 6_400; i++) budget.due();
    expect(clock.reads() - before).toBe(100);
  });

  it('gives the event loop a real turn: a callback queued before the yield runs before it returns', async () => {
    const budget = new TurnBudget();
    let ran = false;
    setImmediate(() => (ran = true));
    await budget.yield();
    expect(ran).toBe(true);
  });
});
