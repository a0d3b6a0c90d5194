/**
 * Bounded client traffic for hot-reload tests: a load loop of sequential requests per worker,
 * a probe that measures how long a change takes to show, and the outcome of one SDK call.
 */
import OpenAI from 'openai';

export interface LoadResult {
  readonly ok: number;
  readonly failures: readonly string[];
}

export interface Load {
  /** Requests that have succeeded so far. */
  readonly ok: () => number;
  stop(): Promise<LoadResult>;
}

/**
 * `workers` loops of sequential chat requests with `client` until stop() or `maxMs` (a bound:
 * the loop ends by itself). Every failure is recorded, none is retried.
 */
export function startLoad(opts: { client: OpenAI; model: string; workers: number; maxMs?: number }): Load {
  let stopped = false;
  let ok = 0;
  const failures: string[] = [];
  const until = Date.now() + (opts.maxMs ?? 60_000);
  const worker = async (n: number): Promise<void> => {
    while (!stopped && Date.now() < until) {
      try {
        await opts.client.chat.completions.create({ model: opts.model, messages: [{ role: 'user', content: `load ${n}` }], max_tokens: 8 });
        ok++;
      } catch (err) {
        failures.push(describe(err));
      }
    }
  };
  const running = Promise.all(Array.from({ length: opts.workers }, (_, n) => worker(n)));
  return {
    ok: () => ok,
    stop: async () => {
      stopped = true;
      await running;
      return { ok, failures };
    },
  };
}

/** What one call came to: 'ok', or `<status> <code>` for an API error, or the error message. */
export async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    return describe(err);
  }
}

function describe(err: unknown): string {
  if (err instanceof OpenAI.APIError) return `${err.status ?? 'no-status'} ${err.code ?? err.type ?? err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export interface Seen {
  /** From the change's start to the answer of the first request that showed the new behaviour. */
  readonly ms: number;
  readonly requests: number;
}

/**
 * Starts `change` (e.g. a kubectl apply) and, at the same time, sends probe requests one after
 * another until one answers `expected`. Throws with the last answer after `timeoutMs`.
 */
export async function timeUntilSeen(opts: {
  change: () => Promise<unknown>;
  probe: () => Promise<string>;
  expected: string;
  timeoutMs?: number;
}): Promise<Seen> {
  const start = performance.now();
  const failed: unknown[] = [];
  const change = opts.change().catch((err: unknown) => failed.push(err));
  let last = '';
  let requests = 0;
  try {
    while (performance.now() - start < (opts.timeoutMs ?? 10_000)) {
      if (failed.length > 0) throw failed[0];
      last = await opts.probe();
      requests++;
      if (last === opts.expected) return { ms: Math.round(performance.now() - start), requests };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`after ${opts.timeoutMs ?? 10_000} ms the probe still answers "${last}", not "${opts.expected}"`);
  } finally {
    await change;
  }
}
