/** The reconcile trigger: bursts collapse into one run, runs never overlap, failures retry. */
import { describe, expect, it, vi } from 'vitest';
import { SerialTask } from '../../src/operator/serial-task.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = { error: () => {} };

describe('SerialTask', () => {
  it('collapses a burst of triggers into one run', async () => {
    let runs = 0;
    const task = new SerialTask({ name: 't', log, debounceMs: 20, run: async () => (++runs, true) });
    for (let i = 0; i < 10; i++) task.trigger();
    await sleep(80);
    expect(runs).toBe(1);
    await task.stop();
  });

  it('never overlaps runs, and queues exactly one more for triggers during a run', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const task = new SerialTask({
      name: 't',
      log,
      debounceMs: 5,
      run: async () => {
        maxActive = Math.max(maxActive, ++active);
        runs++;
        await sleep(40);
        active--;
        return true;
      },
    });
    task.trigger();
    await sleep(15);
    for (let i = 0; i < 5; i++) task.trigger();
    await sleep(150);
    expect(maxActive).toBe(1);
    expect(runs).toBe(2);
    await task.stop();
  });

  it('retries a failed or throwing run, with backoff', async () => {
    const seen: number[] = [];
    const errors: unknown[] = [];
    const task = new SerialTask({
      name: 't',
      log,
      debounceMs: 1,
      onError: (e) => errors.push(e),
      run: async () => {
        seen.push(Date.now());
        if (seen.length === 1) throw new Error('boom');
        return seen.length >= 3;
      },
    });
    // Time is the subject: fake timers run the backoff without waiting for it.
    vi.useFakeTimers();
    try {
      task.trigger();
      await vi.advanceTimersByTimeAsync(2_000);
      expect(seen).toHaveLength(3);
      expect(errors).toHaveLength(1);
      expect(seen[2]! - seen[1]!).toBeGreaterThanOrEqual(seen[1]! - seen[0]!);
      expect(seen[1]! - seen[0]!).toBeGreaterThan(0);
      await task.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
