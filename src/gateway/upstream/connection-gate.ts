/**
 * A counted gate in front of one backend's connection pool. undici queues a request that finds
 * every connection busy, silently and without bound; this gate makes that wait explicit: it is
 * measured, bounded by the backend's queue timeout, and first come, first served.
 */
import type { AbortSource } from './call-abort.js';

export type GateResult =
  { readonly acquired: true; readonly waitedMs: number } | { readonly acquired: false; readonly waitedMs: number; readonly reason: 'timeout' | 'aborted' };

interface Waiter {
  readonly grant: () => void;
}

export class ConnectionGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Requests holding a slot now, and requests waiting for one. */
  get inUse(): number {
    return this.active;
  }
  get queued(): number {
    return this.waiting.length;
  }

  /** A slot, or why not; every acquired slot must be given back with release() exactly once. */
  acquire(opts: { readonly timeoutMs: number; readonly signal?: AbortSource }): Promise<GateResult> {
    if (this.active < this.limit && this.waiting.length === 0) {
      this.active++;
      return Promise.resolve({ acquired: true, waitedMs: 0 });
    }
    if (opts.signal?.aborted === true) return Promise.resolve({ acquired: false, waitedMs: 0, reason: 'aborted' });
    const started = performance.now();
    return new Promise<GateResult>((resolve) => {
      const leave = (reason: 'timeout' | 'aborted'): void => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        cleanup();
        resolve({ acquired: false, waitedMs: performance.now() - started, reason });
      };
      const onAbort = (): void => leave('aborted');
      const timer = setTimeout(() => leave('timeout'), opts.timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          resolve({ acquired: true, waitedMs: performance.now() - started });
        },
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter, so the count never dips and lets a newcomer jump the queue.
    if (next !== undefined) next.grant();
    else this.active = Math.max(0, this.active - 1);
  }
}
