/**
 * Load generation and measurement.
 *
 * - `runAutocannon`: closed-loop load (max throughput) or autocannon's `overallRate`.
 * - `runPaced`: open-loop load at a fixed rate with evenly spaced sends (undici Pool).
 *
 * Latencies are recorded here, from autocannon's `response` event (fractional milliseconds),
 * not from autocannon's own histogram: that one stores whole milliseconds, far too coarse for
 * a sub-millisecond proxy overhead, and under `overallRate` it "corrects" coordinated omission
 * with an expected interval of ceil(1/rate) = 1 ms, which invents samples.
 *
 * Why both rate runs: autocannon's `overallRate` gives each connection a budget of
 * rate/connections requests that resets every second, and the connections spend it back to
 * back; so "500 req/s" arrives as a burst of `connections` concurrent requests at the top of
 * each second, then silence. Its p99 is queueing inside that burst. The paced run sends one
 * request every 1000/rate ms, which is what a steady 500 req/s looks like to the proxy.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';

export interface LoadSpec {
  /** Full URL of the chat completions endpoint. */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface LoadResult {
  readonly seconds: number;
  /** Responses received (any status). */
  readonly responses: number;
  readonly ok: number;
  readonly non2xx: number;
  /** Connection errors and timeouts (no response at all). */
  readonly errors: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** Responses per second over the run. */
  readonly rps: number;
  /** Milliseconds, over 2xx responses. */
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

/** Growable sample buffer with nearest-rank percentiles. */
class Samples {
  private buf = new Float64Array(1 << 16);
  private n = 0;

  add(v: number): void {
    if (this.n === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.n++] = v;
  }

  summary(): { p50: number; p99: number; mean: number } {
    if (this.n === 0) return { p50: Number.NaN, p99: Number.NaN, mean: Number.NaN };
    const sorted = this.buf.slice(0, this.n).sort();
    const at = (q: number): number => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil(q * this.n) - 1))] ?? Number.NaN;
    let sum = 0;
    for (const v of sorted) sum += v;
    return { p50: at(0.5), p99: at(0.99), mean: sum / this.n };
  }
}

/**
 * What runs against one target have seen, added up: the benchmark interleaves short slices of
 * every target so that a noisy neighbour hurts all of them alike, and pools the slices here.
 */
export class Tally {
  private readonly samples = new Samples();
  private readonly statusCodes: Record<string, number> = {};
  private seconds = 0;
  responses = 0;
  ok = 0;
  errors = 0;
  /** Responses of lead-ins: not in the latencies and rates, but they did cost CPU. */
  leadInResponses = 0;

  addSeconds(s: number): void {
    this.seconds += s;
  }

  response(status: number, ms: number): void {
    this.responses++;
    this.statusCodes[status] = (this.statusCodes[status] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      this.ok++;
      this.samples.add(ms);
    }
  }

  result(): LoadResult {
    const seconds = this.seconds;
    return {
      seconds,
      responses: this.responses,
      ok: this.ok,
      non2xx: this.responses - this.ok,
      errors: this.errors,
      statusCodes: { ...this.statusCodes },
      rps: seconds > 0 ? this.responses / seconds : 0,
      ...this.samples.summary(),
    };
  }
}

/**
 * autocannon, closed loop (`overallRate` undefined) or rate-limited; adds to `tally`. Responses
 * of the first `leadInSeconds` are not counted: every run opens new connections, and the
 * upstream's idle keep-alive sockets may have closed, so the first few dozen milliseconds
 * measure connection setup rather than the steady state.
 */
export async function runAutocannon(
  spec: LoadSpec,
  opts: { connections: number; seconds: number; overallRate?: number; leadInSeconds?: number },
  tally = new Tally(),
): Promise<Tally> {
  const leadInMs = (opts.leadInSeconds ?? 0) * 1000;
  const instance = autocannon({
    url: spec.url,
    method: 'POST',
    headers: spec.headers,
    body: spec.body,
    connections: opts.connections,
    duration: opts.seconds + leadInMs / 1000,
    timeout: 10,
    ...(opts.overallRate === undefined ? {} : { overallRate: opts.overallRate }),
  });
  const started = performance.now();
  let from: number | undefined = leadInMs === 0 ? started : undefined;
  instance.on('response', (_client, status, _bytes, ms) => {
    if (from === undefined) {
      if (performance.now() - started < leadInMs) {
        tally.leadInResponses++;
        return;
      }
      from = performance.now();
    }
    tally.response(status, ms);
  });
  const result = await instance;
  tally.addSeconds((performance.now() - (from ?? performance.now())) / 1000);
  tally.errors += result.errors; // includes timeouts (and any in the lead-in: stricter, not looser)
  return tally;
}

/**
 * Open loop: request i is sent at start + i·(1000/rate) ms whether or not earlier ones have
 * answered; those sent in the first `leadInSeconds` are not counted (connection setup) (a Pool of `connections` sockets; more in flight than that would queue in undici and
 * show up as latency, as it should). Latency runs from the send to the last byte of the body.
 */
export async function runPaced(
  spec: LoadSpec,
  opts: { rate: number; seconds: number; connections: number; leadInSeconds?: number },
  tally = new Tally(),
): Promise<Tally> {
  const url = new URL(spec.url);
  const pool = new Pool(url.origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const leadIn = Math.round(opts.rate * (opts.leadInSeconds ?? 0));
  const total = leadIn + Math.round(opts.rate * opts.seconds);
  const intervalMs = 1000 / opts.rate;
  const path = url.pathname + url.search;
  const body = Buffer.from(spec.body);
  const inflight = new Set<Promise<void>>();

  let measuredFrom: number | undefined;
  const fire = (counted: boolean): void => {
    const t0 = performance.now();
    const p = pool
      .request({ path, method: 'POST', headers: spec.headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 })
      .then(async (res) => {
        await res.body.arrayBuffer();
        if (counted) tally.response(res.statusCode, performance.now() - t0);
        else tally.leadInResponses++;
      })
      .catch(() => {
        tally.errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (sent < due) {
        if (sent === leadIn) measuredFrom = performance.now();
        sent++;
        fire(sent > leadIn);
      }
      if (sent >= total) return resolve();
      setTimeout(tick, Math.max(0, started + sent * intervalMs - performance.now()));
    };
    tick();
  });
  await Promise.all([...inflight]);
  tally.addSeconds((performance.now() - (measuredFrom ?? started)) / 1000);
  await pool.close();
  return tally;
}

/** One request, its status and body text: checks that a target answers as expected before loading it. */
export async function probe(spec: LoadSpec): Promise<{ status: number; text: string }> {
  const url = new URL(spec.url);
  const pool = new Pool(url.origin, { connections: 1 });
  try {
    const res = await pool.request({
      path: url.pathname + url.search,
      method: 'POST',
      headers: spec.headers,
      body: spec.body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await pool.close();
  }
}
