/**
 * `npm run bench:streams`: thousands of concurrent long streams through one gateway (issue #17).
 *
 *   [this process: orchestration]
 *     ├─ [load generator: node dist/bench/stream-load.js] ─HTTP/1.1─▶ [mock upstream]              direct
 *     └─ [load generator] ─HTTP/1.1─▶ [tokenhub gateway (--redis)] ─h2c or HTTP/1.1─▶ [mock upstream]  gateway
 *                                     └─▶ [redis-server] (the 10k row: limits on, fleet-wide)
 *
 * Rows (BENCH_STREAM_ROWS, comma-separated; default "2k,2k-http1"):
 *   2k        2,000 streams of 24 chunks at 250 ms (6 s each), memory store, the gateway's upstream
 *             over h2c (`connection.protocol: h2c`, as to an in-cluster vLLM). Target: all done in < 8 s.
 *   2k-http1  the same with the upstream over HTTP/1.1 (a connection per stream), for comparison.
 *   10k       10,000 streams of 120 chunks at 250 ms (30 s each), Redis limits on, upstream over
 *             h2c. Targets: all completed, peak RSS < 1 GiB; prints added time-to-first-chunk
 *             p50/p99 against direct and CPU per relayed chunk.
 *   10k-http1 the same over HTTP/1.1: 20,000+ sockets in the gateway (see Open files).
 * Direct runs always speak HTTP/1.1 to an HTTP/1.1 mock; the gateway's upstream is a second mock
 * process with the same settings, serving h2c for the h2c rows.
 *   BENCH_GATEWAY_NODE_ARGS extra node flags for the gateway (e.g. --cpu-prof --cpu-prof-dir=DIR).
 *   BENCH_STREAM_COUNT overrides the number of streams of every row (a smaller box, a quick look).
 * Each row runs the same load once straight at the mock (direct) and once through the gateway,
 * each after a warm-up of 400 unpaced streams (JIT, upstream keep-alive connections), as a
 * gateway in service is warm.
 * Open files: every stream holds a client socket in the gateway and, over HTTP/1.1, an upstream
 * socket too (h2c: one per 100 streams); the child processes are started under `ulimit -n`
 * raised to the hard limit (see bench/README.md).
 * It always exits 0: it reports, it does not gate.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { H2CClient } from 'undici';
import { hashKey } from '../src/keys/hash.js';
import { type Proc, cpuTimeMs, freePort, onPath, startProcess, waitForHttp } from './processes.js';
import type { LoadReport } from './stream-load.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'tokenhub.js');
const LOAD = join(ROOT, 'dist', 'bench', 'stream-load.js');
const MODEL = 'bench-model';
/** Same route, no pacing: warms up the mock and the gateway (JIT, upstream connections) before a row. */
const WARM_MODEL = 'bench-warm';
const WARM_STREAMS = 400;
const API_KEY = 'th-bench-key-not-a-secret';
const GIB = 1024 ** 3;

interface RowSpec {
  readonly name: string;
  readonly streams: number;
  readonly chunks: number;
  readonly chunkDelayMs: number;
  readonly redis: boolean;
  /** How the gateway talks to the mock upstream. */
  readonly upstream: 'h2c' | 'http1';
  readonly targetWallMs?: number;
  readonly targetPeakRss?: number;
}

const ROWS: Record<string, RowSpec> = {
  '2k': { name: '2k', streams: 2000, chunks: 24, chunkDelayMs: 250, redis: false, upstream: 'h2c', targetWallMs: 8000 },
  '2k-http1': { name: '2k-http1', streams: 2000, chunks: 24, chunkDelayMs: 250, redis: false, upstream: 'http1', targetWallMs: 8000 },
  '10k': { name: '10k', streams: 10_000, chunks: 120, chunkDelayMs: 250, redis: true, upstream: 'h2c', targetPeakRss: GIB },
  '10k-http1': { name: '10k-http1', streams: 10_000, chunks: 120, chunkDelayMs: 250, redis: true, upstream: 'http1', targetPeakRss: GIB },
};

const log = (msg: string): void => {
  process.stderr.write(`[bench:streams] ${msg}\n`);
};

/** Runs `node …args` under the highest open-file limit the system allows. */
function nodeCommand(args: readonly string[]): { command: string; args: string[] } {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return { command: '/bin/sh', args: ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`] };
}

function manifests(mockURL: string, upstream: RowSpec['upstream']): string {
  const connection = `{maxConnections: 20000${upstream === 'h2c' ? ', protocol: h2c' : ''}}`;
  const huge = { rpm: 1_000_000_000, tpm: 1_000_000_000_000 };
  return `---
apiVersion: tokenhub.io/v1alpha1
kind: ModelRoute
metadata: {name: ${WARM_MODEL}}
spec:
  model: ${WARM_MODEL}
  capabilities: [text]
  limits: {contextWindow: 8192, maxInput: 8192, maxOutput: 1024}
  backends: [{name: main, baseURL: "${mockURL}", timeoutSeconds: 120, connection: ${connection}}]
---
apiVersion: tokenhub.io/v1alpha1
kind: ModelRoute
metadata: {name: ${MODEL}}
spec:
  model: ${MODEL}
  capabilities: [text]
  limits: {contextWindow: 8192, maxInput: 8192, maxOutput: 1024}
  backends: [{name: main, baseURL: "${mockURL}", timeoutSeconds: 120, connection: ${connection}}]
  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}
  pricing: {inputPerMillion: "0.30", outputPerMillion: "0.60"}
---
apiVersion: tokenhub.io/v1alpha1
kind: QuotaPolicy
metadata: {name: bench-policy}
spec:
  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}
  budgets: {tokens: {day: 1000000000000000}}
---
apiVersion: tokenhub.io/v1alpha1
kind: ApiKey
metadata: {name: bench-key}
spec:
  credential: {hash: "${hashKey(API_KEY)}"}
  quotaPolicies: [bench-policy]
`;
}

async function runLoad(spec: { url: string; streams: number; key?: string; body: string }): Promise<LoadReport> {
  const { command, args } = nodeCommand([LOAD, JSON.stringify({ ...spec, rampMs: Math.min(2000, spec.streams / 4) })]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as LoadReport;
}

/** Peak resident memory (VmHWM) of a process, bytes. */
function peakRss(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? undefined : Number(m[1]) * 1024;
}

const pct = (xs: readonly number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function startRedis(dir: string): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = startProcess({
    name: 'redis-server',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxclients', '1000'],
    logFile: join(dir, 'redis.log'),
  });
  const { Redis } = await import('ioredis');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    const ok = await client.connect().then(
      () => client.ping(),
      () => undefined,
    );
    client.disconnect();
    if (ok === 'PONG') return { url: `redis://127.0.0.1:${port}`, proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not answer PING');
}

/** The warm-up model streams without pacing. */
async function setWarmBehaviour(port: number, row: RowSpec, h2c: boolean): Promise<void> {
  const body = JSON.stringify({ chunkDelayMs: 0, completionTokens: row.chunks });
  const path = `/__mock/behaviour/${WARM_MODEL}`;
  if (!h2c) {
    await fetch(`http://127.0.0.1:${port}${path}`, { method: 'PUT', body });
    return;
  }
  const client = new H2CClient(`http://127.0.0.1:${port}`);
  try {
    const res = await client.request({ path, method: 'PUT', body });
    await res.body.text();
  } finally {
    await client.close();
  }
}

/** Polls an h2c mock's stats until it answers (fetch speaks HTTP/1.1 only). */
async function waitForH2c(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new H2CClient(`http://127.0.0.1:${port}`);
    try {
      const res = await client.request({ path: '/__mock/stats', method: 'GET' });
      await res.body.text();
      if (res.statusCode === 200) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    } finally {
      await client.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runRow(row: RowSpec, dir: string): Promise<string[]> {
  const procs: Proc[] = [];
  try {
    const mockFlags = ['--chunk-delay-ms', String(row.chunkDelayMs), '--completion-tokens', String(row.chunks)];
    const startMock = async (name: string, extra: readonly string[]): Promise<number> => {
      const port = await freePort();
      const proc = startProcess({
        name,
        ...nodeCommand([CLI, 'mock-upstream', '--port', String(port), ...mockFlags, ...extra]),
        logFile: join(dir, `${row.name}-${name}.log`),
      });
      procs.push(proc);
      if (extra.includes('--h2c')) await waitForH2c(port);
      else await waitForHttp(proc, `http://127.0.0.1:${port}/__mock/stats`);
      return port;
    };
    const mockPort = await startMock('mock', []);
    // The gateway's upstream: its own process (h2c, or HTTP/1.1 like the direct one).
    const upstreamPort = row.upstream === 'h2c' ? await startMock('mock-h2c', ['--h2c']) : mockPort;
    const bodyOf = (model: string): string =>
      JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, max_tokens: row.chunks, messages: [{ role: 'user', content: 'hi' }] });
    const body = bodyOf(MODEL);
    await setWarmBehaviour(mockPort, row, false);
    if (upstreamPort !== mockPort) await setWarmBehaviour(upstreamPort, row, true);
    log(`${row.name}: warm-up, then ${row.streams} streams direct to the mock`);
    await runLoad({ url: `http://127.0.0.1:${mockPort}/v1/chat/completions`, streams: WARM_STREAMS, body: bodyOf(WARM_MODEL) });
    const direct = await runLoad({ url: `http://127.0.0.1:${mockPort}/v1/chat/completions`, streams: row.streams, body });

    const configDir = join(dir, `${row.name}-config`);
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'bench.yaml'), manifests(`http://127.0.0.1:${upstreamPort}/v1`, row.upstream));
    const redis = row.redis ? await startRedis(dir) : undefined;
    if (redis) procs.push(redis.proc);
    const port = await freePort();
    const nodeArgs = (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
    const gwCmd = nodeCommand([...nodeArgs, CLI, 'gateway', '--config', configDir, '--port', String(port), ...(redis ? ['--redis', redis.url] : [])]);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['TOKENHUB_REDIS_URL'];
    const gw = startProcess({ name: 'gateway', ...gwCmd, logFile: join(dir, `${row.name}-gateway.log`), env });
    procs.push(gw);
    await waitForHttp(gw, `http://127.0.0.1:${port}/readyz`);
    // sh exec()s node, so the child's pid is the gateway's.
    const sutPids = [gw.child.pid, redis?.proc.child.pid].filter((p): p is number => p !== undefined);
    log(`${row.name}: warm-up, then ${row.streams} streams through the gateway${redis ? ' (Redis limits)' : ''}`);
    await runLoad({ url: `http://127.0.0.1:${port}/v1/chat/completions`, streams: WARM_STREAMS, key: API_KEY, body: bodyOf(WARM_MODEL) });
    const cpu0 = sutPids.map((p) => cpuTimeMs(p) ?? 0).reduce((a, b) => a + b, 0);
    const through = await runLoad({ url: `http://127.0.0.1:${port}/v1/chat/completions`, streams: row.streams, key: API_KEY, body });
    const cpuMs = sutPids.map((p) => cpuTimeMs(p) ?? 0).reduce((a, b) => a + b, 0) - cpu0;
    return report(row, direct, through, { peak: peakRss(gw.child.pid), cpuMs });
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

function report(row: RowSpec, direct: LoadReport, gw: LoadReport, m: { peak: number | undefined; cpuMs: number }): string[] {
  const allDone = gw.completed === row.streams;
  const checks: string[] = [`all completed ${allDone ? 'PASS' : 'MISS'}`];
  if (row.targetWallMs !== undefined) checks.push(`wall < ${row.targetWallMs / 1000} s ${gw.wallMs < row.targetWallMs ? 'PASS' : 'MISS'}`);
  if (row.targetPeakRss !== undefined && m.peak !== undefined)
    checks.push(`peak RSS < ${row.targetPeakRss / GIB} GiB ${m.peak < row.targetPeakRss ? 'PASS' : 'MISS'}`);
  const f = (n: number): string => n.toFixed(1);
  return [
    `${row.name}: ${row.streams} streams × ${row.chunks} chunks at ${row.chunkDelayMs} ms${row.redis ? ', Redis limits on' : ', memory store'}, gateway → upstream over ${row.upstream === 'h2c' ? 'h2c' : 'HTTP/1.1'}`,
    `  direct   completed ${direct.completed}/${row.streams}  wall ${f(direct.wallMs / 1000)} s  TTFC p50 ${f(pct(direct.ttfcMs, 50))} ms p99 ${f(pct(direct.ttfcMs, 99))} ms  statuses ${JSON.stringify(direct.statuses)} errors ${JSON.stringify(direct.errors)}`,
    `  gateway  completed ${gw.completed}/${row.streams}  wall ${f(gw.wallMs / 1000)} s  TTFC p50 ${f(pct(gw.ttfcMs, 50))} ms p99 ${f(pct(gw.ttfcMs, 99))} ms  statuses ${JSON.stringify(gw.statuses)} errors ${JSON.stringify(gw.errors)}`,
    `  added TTFC p50 ${f(pct(gw.ttfcMs, 50) - pct(direct.ttfcMs, 50))} ms, p99 ${f(pct(gw.ttfcMs, 99) - pct(direct.ttfcMs, 99))} ms; peak RSS ${m.peak === undefined ? '?' : `${f(m.peak / 1024 ** 2)} MiB`}; CPU ${f(m.cpuMs / 1000)} s = ${f((m.cpuMs * 1000) / Math.max(1, gw.chunks))} µs per relayed chunk (${gw.chunks} chunks)`,
    `  ${checks.join(', ')}`,
  ];
}

async function main(): Promise<void> {
  const names = (process.env['BENCH_STREAM_ROWS'] ?? '2k,2k-http1')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const dir = mkdtempSync(join(tmpdir(), 'tokenhub-bench-streams-'));
  const lines: string[] = [];
  try {
    for (const name of names) {
      const count = Number(process.env['BENCH_STREAM_COUNT'] ?? '');
      const base = ROWS[name];
      const row = base !== undefined && Number.isInteger(count) && count > 0 ? { ...base, streams: count } : base;
      if (row === undefined) throw new Error(`unknown row ${name} (rows: ${Object.keys(ROWS).join(', ')})`);
      if (row.redis && onPath('redis-server') === undefined) {
        lines.push(`${name}: skipped, no redis-server on PATH`);
        continue;
      }
      try {
        lines.push(...(await runRow(row, dir)));
      } catch (err) {
        lines.push(`${name}: FAILED ${(err as Error).message}`);
      }
    }
  } finally {
    if (process.env['BENCH_KEEP'] === '1') log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
