/**
 * "Something changed" → one run of the whole reconcile, soon: triggers within the debounce
 * window collapse into one run, runs never overlap (a trigger during a run queues exactly one
 * more), a run that reports failure (or throws) is retried with capped exponential backoff.
 * Events carry no payload on purpose: each run re-reads the caches (reconcile the whole state).
 */
import type { FastifyBaseLogger } from 'fastify';

export interface SerialTaskOptions {
  readonly name: string;
  /** Resolves false when it should be retried (a write failed); a throw counts as false too. */
  readonly run: () => Promise<boolean>;
  readonly log: Pick<FastifyBaseLogger, 'error'>;
  readonly debounceMs?: number;
  readonly maxBackoffMs?: number;
  readonly onError?: (err: unknown) => void;
}

export class SerialTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private stopped = false;

  constructor(private readonly opts: SerialTaskOptions) {}

  trigger(delayMs = this.opts.debounceMs ?? 100): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOnce();
    }, delayMs);
  }

  /** Cancels what is pending and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async runOnce(): Promise<void> {
    let ok = false;
    try {
      ok = await this.opts.run();
    } catch (err) {
      this.opts.onError?.(err);
      this.opts.log.error({ task: this.opts.name, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'reconcile failed; retrying');
    }
    this.running = undefined;
    this.failures = ok ? 0 : this.failures + 1;
    if (this.again || !ok) {
      this.again = false;
      const backoff = ok ? undefined : Math.min(this.opts.maxBackoffMs ?? 30_000, 500 * 2 ** (this.failures - 1));
      this.trigger(backoff);
    }
  }
}
