/**
 * The load generator of `bench/streams.ts`, in its own process so the gateway's numbers are its
 * own: opens N streaming chat completions at once (spread over a short ramp so the listen
 * backlog does not drop SYNs), reads each to its end, and prints one JSON line: how many
 * completed, statuses, time to first chunk per stream, and the wall time of the whole batch.
 *
 *   node dist/bench/stream-load.js '{"url":…,"streams":2000,"body":"…","key":"…","rampMs":500}'
 */
import { Agent, request } from 'undici';

interface Spec {
  readonly url: string;
  readonly streams: number;
  readonly body: string;
  readonly key?: string;
  readonly rampMs: number;
}

export interface LoadReport {
  readonly streams: number;
  readonly completed: number;
  readonly statuses: Record<string, number>;
  readonly errors: Record<string, number>;
  /** Milliseconds from a stream's request to its first byte of body, sorted. */
  readonly ttfcMs: number[];
  /** From the first request to the last stream's end. */
  readonly wallMs: number;
  readonly chunks: number;
}

const DATA = Buffer.from('data: ');

async function one(
  spec: Spec,
  agent: Agent,
  out: { statuses: Record<string, number>; errors: Record<string, number>; ttfc: number[]; completed: number; chunks: number },
): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await request(spec.url, {
      method: 'POST',
      dispatcher: agent,
      body: spec.body,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
      headers: { 'content-type': 'application/json', ...(spec.key === undefined ? {} : { authorization: `Bearer ${spec.key}` }) },
    });
    out.statuses[res.statusCode] = (out.statuses[res.statusCode] ?? 0) + 1;
    let first = true;
    // Counted on the bytes, not decoded: this process shares the cores with the gateway it measures.
    let previous: Buffer | undefined;
    let last: Buffer | undefined;
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (first) {
        out.ttfc.push(performance.now() - t0);
        first = false;
      }
      for (let at = buf.indexOf(DATA); at !== -1; at = buf.indexOf(DATA, at + DATA.length)) out.chunks++;
      previous = last;
      last = buf;
    }
    const tail = Buffer.concat([previous ?? Buffer.alloc(0), last ?? Buffer.alloc(0)]);
    if (res.statusCode === 200 && tail.includes('[DONE]')) out.completed++;
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).name;
    out.errors[code] = (out.errors[code] ?? 0) + 1;
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const agent = new Agent({ connections: spec.streams, pipelining: 1, connectTimeout: 30_000, keepAliveTimeout: 60_000 });
  const out = { statuses: {} as Record<string, number>, errors: {} as Record<string, number>, ttfc: [] as number[], completed: 0, chunks: 0 };
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < spec.streams; i++) {
    const due = (i * spec.rampMs) / spec.streams;
    const wait = t0 + due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    all.push(one(spec, agent, out));
  }
  await Promise.all(all);
  const report: LoadReport = {
    streams: spec.streams,
    completed: out.completed,
    statuses: out.statuses,
    errors: out.errors,
    ttfcMs: out.ttfc.sort((a, b) => a - b),
    wallMs: performance.now() - t0,
    chunks: out.chunks,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await agent.close();
}

await main();
