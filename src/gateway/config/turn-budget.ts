/**
 * Long work on the serving thread, cut into slices by time instead of by count (issue #13).
 * A count ("yield every 2,500 objects") is only as short as each item is cheap: the same 2,500
 * WeakMap lookups took 0.5 ms on a quiet core and 4+ ms of the serving thread's own CPU with a
 * worker compiling beside it (measured from /proc/thread-self/sched during bench:compile's 100k
 * recompile). A time budget bounds the slice whatever the items cost.
 *
 *   const budget = new TurnBudget();
 *   for (const item of items) {
 *     work(item);
 *     if (budget.due()) await budget.yield();
 *   }
 *
 * `due()` is synchronous on purpose: an `await` per item would queue 100k microtasks, all in the
 * same slice.
 */

/** Wall time a slice may run before the next event-loop turn; requests waiting go in between. */
export const SLICE_MS = 1;

/** The clock is read once every CHECK_EVERY calls of due(): reading it per item costs more than the item. */
const CHECK_EVERY = 64;

export class TurnBudget {
  private start: number;
  private calls = 0;
  /** Event-loop turns given back so far (for tests and the benchmark). */
  turns = 0;

  constructor(
    private readonly opts: {
      readonly sliceMs?: number;
      readonly now?: () => number;
      /** How a turn is given back; setImmediate: after the I/O (requests) that is ready. */
      readonly turn?: () => Promise<void>;
    } = {},
  ) {
    this.start = this.now();
  }

  /** True when this slice has used its time: the caller should `await yield()` now. */
  due(): boolean {
    if (++this.calls % CHECK_EVERY !== 0) return false;
    return this.now() - this.start >= (this.opts.sliceMs ?? SLICE_MS);
  }

  /** Gives the event loop a turn and starts a new slice. */
  async yield(): Promise<void> {
    this.turns++;
    await (this.opts.turn ?? nextTurn)();
    this.calls = 0;
    this.start = this.now();
  }

  private now(): number {
    return (this.opts.now ?? performance.now.bind(performance))();
  }
}

export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
