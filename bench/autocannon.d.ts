// Minimal types for the parts of autocannon 9's programmatic API the benchmark uses
// (the package ships none, and there is no @types/autocannon in the tree).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Requests per second across all connections (per-connection budgets reset every second). */
      overallRate?: number;
      pipelining?: number;
      /** Seconds. */
      timeout?: number;
      workers?: number;
      ignoreCoordinatedOmission?: boolean;
    }

    interface Stats {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
    }

    interface Result {
      /** Seconds. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      mismatches: number;
      '1xx': number;
      '2xx': number;
      '3xx': number;
      '4xx': number;
      '5xx': number;
      statusCodeStats: Record<string, { count: number }>;
      /** Milliseconds, recorded into an integer histogram (so whole milliseconds only). */
      latency: Stats;
      requests: Stats & { sent: number };
      throughput: Stats;
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
      /** Every response: its status, its size in bytes and its latency in fractional milliseconds. */
      on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): this;
      on(event: 'reqError', listener: (err: Error) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
    }
  }

  function autocannon(opts: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
