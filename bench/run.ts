/**
 * `npm run bench`: what the gateway costs over a bare proxy and over no proxy at all.
 *
 * Process layout (one run, a 2-core machine). Each box is its own OS process, so the system
 * under test never shares an event loop with the upstream or the load generator:
 *
 *   [this process: orchestration + load generator (autocannon, undici)]
 *        │ HTTP/1.1 keep-alive
 *        ├──────────────────────────────────────────────▶ [mock upstream]        "direct"
 *        ├──▶ [bare proxy: node dist/bench/bare-proxy.js] ──▶ [mock upstream]    "bare proxy"
 *        ├──▶ [tokenhub gateway, memory store]             ──▶ [mock upstream]    "gateway"
 *        └──▶ [tokenhub gateway --redis] ──▶ [redis-server]
 *                                         └──────────────▶ [mock upstream]       "gateway+redis"
 *
 * All of them start at the beginning and stay up (an idle process costs nothing); the load goes
 * to one at a time. Each measurement (max throughput, fixed rate, paced, streaming) is cut into
 * slices of BENCH_SLICE seconds, interleaved round-robin across the targets (the order rotating
 * each round) and pooled per target: on a machine shared with other work, a noisy minute then
 * hurts every row alike instead of whichever row happened to run in it. The gateway runs
 * as users run it (`node bin/tokenhub.js gateway --config DIR`) on manifests written to a temp
 * directory: one ModelRoute on the mock, one ApiKey (by hash), one QuotaPolicy whose limits are
 * far too high to trigger, so authentication, validation, routing, limits and settlement all run.
 * Three busy processes share two cores, so the proxy's CPU per request is what it takes from
 * the rest: it is printed (from /proc) beside the rates, and is the steadiest number here.
 *
 * Environment:
 *   BENCH_DURATION      seconds per measurement per target (8)
 *   BENCH_SLICE         seconds per interleaved slice (2)
 *   BENCH_WARMUP        seconds of warm-up of each target (2)
 *   BENCH_CONNECTIONS   autocannon connections for max throughput (64)
 *   BENCH_RATE          the fixed rate, requests/s (500)
 *   BENCH_STREAM        0 skips the streaming variant
 *   BENCH_STORE         memory: no Redis row; redis: a Redis row is required; unset: a Redis row
 *                       when TOKENHUB_REDIS_URL is set or redis-server is on PATH
 *   TOKENHUB_REDIS_URL  use this Redis for the gateway+redis row instead of starting one
 *   BENCH_PROFILE       1: run the gateways under `node --cpu-prof` and print their hot spots
 *                       (the profiler slows them down: numbers of such a run are not comparable)
 *   BENCH_GATEWAY_NODE_ARGS  extra node flags for the gateway processes, e.g. "--trace-gc" (their
 *                       output goes to the gateway logs: use with BENCH_KEEP=1)
 *   BENCH_GATEWAY_LOG_LEVEL  the gateways' --log-level; unset = their default (info), which writes
 *                       one access line per request (to a log file here, to stdout in a pod)
 *   BENCH_KEEP          1: keep the temp directory (logs, manifests, profiles)
 *   BENCH_QUIET_WAIT    seconds to wait, before measuring, for other processes to go under 25%
 *                       of a core (60; 0 = do not wait). Busy neighbours are reported either way.
 *
 * It always exits 0: it reports, it does not gate.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashKey } from '../src/keys/hash.js';
import { type LoadResult, type LoadSpec, Tally, probe, runAutocannon, runPaced } from './load.js';
import { type Proc, cpuTimeMs, freePort, machineBusyMs, onPath, startProcess, waitForHttp } from './processes.js';
import { formatSummary, summarizeProfile } from './profile-summary.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'tokenhub.js');
const BARE_PROXY = join(ROOT, 'dist', 'bench', 'bare-proxy.js');
const CHAT_PATH = '/v1/chat/completions';
const MODEL = 'bench-model';
const API_KEY = 'th-bench-key-not-a-secret';

/** Throughput targets against the bare proxy: issue #3 for the gateway, issue #5 with Redis. */
const TARGET_THROUGHPUT_RATIO = 0.7;
const TARGET_THROUGHPUT_RATIO_REDIS = 0.6;
const TARGET_ADDED_P99_MS = 2;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return n;
}

const settings = {
  seconds: envNumber('BENCH_DURATION', 8),
  slice: envNumber('BENCH_SLICE', 2),
  /** Not counted at the start of each slice: new connections, not the steady state. */
  leadIn: 0.5,
  warmup: envNumber('BENCH_WARMUP', 2),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 64)),
  rate: envNumber('BENCH_RATE', 500),
  stream: process.env['BENCH_STREAM'] !== '0',
  store: process.env['BENCH_STORE'] ?? 'auto',
  redisUrl: process.env['TOKENHUB_REDIS_URL'] || undefined,
  profile: process.env['BENCH_PROFILE'] === '1',
  gatewayNodeArgs: (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== ''),
  /** Unset: the gateway's default (info: one access line per request, to its log file here as to stdout in a pod). */
  gatewayLogLevel: process.env['BENCH_GATEWAY_LOG_LEVEL'] || undefined,
  keep: process.env['BENCH_KEEP'] === '1',
  quietWait: process.env['BENCH_QUIET_WAIT'] === '0' ? 0 : envNumber('BENCH_QUIET_WAIT', 60),
};

const messages = [{ role: 'user', content: 'In one short sentence: why do proxies add latency?' }];
const BODIES = {
  plain: JSON.stringify({ model: MODEL, messages, max_tokens: 16 }),
  // include_usage: the gateway always asks the upstream for it, so every target gets the same upstream answer.
  stream: JSON.stringify({ model: MODEL, messages, max_tokens: 16, stream: true, stream_options: { include_usage: true } }),
};

function specOf(baseURL: string, stream: boolean, auth: boolean): LoadSpec {
  return {
    url: `${baseURL}${CHAT_PATH}`,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${API_KEY}` } : {}) },
    body: stream ? BODIES.stream : BODIES.plain,
  };
}

// ---------------------------------------------------------------------------------------------
// Config for the gateway (the same YAML as test/support/gateway.ts writes, inline: bench/ is
// compiled with src/ only).

function gatewayManifests(mockURL: string): string {
  const huge = { rpm: 1_000_000_000, tpm: 1_000_000_000_000 };
  return [
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ModelRoute',
    `metadata: {name: ${MODEL}}`,
    'spec:',
    `  model: ${MODEL}`,
    '  capabilities: [text]',
    '  limits: {contextWindow: 8192, maxInput: 8192, maxOutput: 1024}',
    `  backends: [{name: main, baseURL: "${mockURL}", timeoutSeconds: 10}]`,
    `  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}`,
    '  pricing: {inputPerMillion: "0.30", outputPerMillion: "0.60"}',
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: QuotaPolicy',
    'metadata: {name: bench-policy}',
    'spec:',
    `  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}`,
    `  modelRateLimits: [{model: "${MODEL}", rpm: ${huge.rpm}, tpm: ${huge.tpm}}]`,
    '  budgets: {tokens: {day: 1000000000000000}}',
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ApiKey',
    'metadata: {name: bench-key}',
    'spec:',
    `  credential: {hash: "${hashKey(API_KEY)}"}`,
    `  allowedModels: ["${MODEL}"]`,
    '  quotaPolicies: [bench-policy]',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Running {
  /** Base URL (no /v1). */
  readonly url: string;
  /** The processes of the system under test (gateway, and redis-server when it started one); none for "direct". */
  readonly pids: readonly number[];
  readonly auth: boolean;
  stop(): Promise<void>;
}

interface Target {
  readonly name: string;
  start(): Promise<Running>;
}

/** CPU during one measurement, in % of one core (so up to 100 × cores in all). */
interface CpuShare {
  readonly gen: number;
  readonly mock?: number;
  readonly sut?: number;
  /** Everything else on the machine: other people's processes are noise in the numbers. */
  readonly other?: number;
  /** CPU of the system under test per response, µs (the mock's for "direct"). */
  readonly usPerReq?: number;
}

interface Measured {
  readonly r: LoadResult;
  readonly cpu: CpuShare;
}

type Phase = 'max' | 'rate' | 'paced' | 'streamMax' | 'streamPaced';

interface Row extends Partial<Record<Phase, Measured>> {
  readonly name: string;
  readonly error?: string;
}

const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

const sum = (xs: readonly (number | undefined)[]): number | undefined =>
  xs.reduce<number | undefined>((a, x) => (a === undefined || x === undefined ? undefined : a + x), 0);

/** One target's measurement, slice after slice: the load results and the CPU each process used. */
class Accumulator {
  readonly tally = new Tally();
  private wallMs = 0;
  private genMs = 0;
  private mockMs: number | undefined = 0;
  private sutMs: number | undefined = 0;
  private machineMs: number | undefined = 0;

  constructor(private readonly pids: { mock: number | undefined; sut: readonly number[] | undefined }) {}

  /** Runs one slice and charges the machine's CPU over it to the generator, the mock, the system under test and the rest. */
  async slice(run: (tally: Tally) => Promise<unknown>): Promise<void> {
    const sutCpu = (): number | undefined => (this.pids.sut === undefined ? 0 : sum(this.pids.sut.map(cpuTimeMs)));
    const m0 = machineBusyMs();
    const k0 = cpuTimeMs(this.pids.mock);
    const s0 = sutCpu();
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    await run(this.tally);
    this.wallMs += performance.now() - t0;
    const g = process.cpuUsage(g0);
    const s1 = sutCpu();
    const k1 = cpuTimeMs(this.pids.mock);
    const m1 = machineBusyMs();
    this.genMs += (g.user + g.system) / 1000;
    this.mockMs = k0 === undefined || k1 === undefined || this.mockMs === undefined ? undefined : this.mockMs + k1 - k0;
    this.sutMs = s0 === undefined || s1 === undefined || this.sutMs === undefined ? undefined : this.sutMs + s1 - s0;
    this.machineMs = m0 === undefined || m1 === undefined || this.machineMs === undefined ? undefined : this.machineMs + m1 - m0;
  }

  measured(): Measured {
    const r = this.tally.result();
    const wall = Math.max(1, this.wallMs);
    const pct = (v: number | undefined): number | undefined => (v === undefined ? undefined : (100 * v) / wall);
    const direct = this.pids.sut === undefined;
    const charged = direct ? this.mockMs : this.sutMs;
    const other = this.machineMs === undefined || this.mockMs === undefined || this.sutMs === undefined ? undefined : this.machineMs - this.genMs - this.mockMs - this.sutMs;
    const cpu: CpuShare = {
      gen: (100 * this.genMs) / wall,
      ...(this.mockMs === undefined ? {} : { mock: pct(this.mockMs) }),
      ...(direct || this.sutMs === undefined ? {} : { sut: pct(this.sutMs) }),
      ...(other === undefined ? {} : { other: Math.max(0, pct(other) ?? 0) }),
      // The CPU was measured over whole slices, lead-ins included: so are the responses it is divided by.
      ...(charged === undefined ? {} : { usPerReq: (charged * 1000) / Math.max(1, r.responses + this.tally.leadInResponses) }),
    };
    return { r, cpu };
  }
}

/**
 * Waits (up to `maxSeconds`) until the rest of the machine uses less than `threshold`% of a
 * core: other engineers' test runs on a 2-core box would otherwise be measured as our latency.
 */
async function waitForQuiet(mockPid: number | undefined, maxSeconds = settings.quietWait, threshold = 25): Promise<number | undefined> {
  let other: number | undefined;
  for (let i = 0; i < maxSeconds; i++) {
    const m0 = machineBusyMs();
    const k0 = cpuTimeMs(mockPid);
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const g = process.cpuUsage(g0);
    const m1 = machineBusyMs();
    const k1 = cpuTimeMs(mockPid);
    if (m0 === undefined || m1 === undefined || k0 === undefined || k1 === undefined) return undefined;
    other = Math.max(0, (100 * (m1 - m0 - (k1 - k0) - (g.user + g.system) / 1000)) / (performance.now() - t0));
    if (other < threshold) return other;
    if (i === 0) log(`waiting up to ${maxSeconds} s for other processes to calm down (${other.toFixed(0)}% of a core busy elsewhere)`);
  }
  return other;
}

function checkProbe(name: string, stream: boolean, res: { status: number; text: string }): void {
  const ok = res.status === 200 && (stream ? res.text.includes('data: [DONE]') && res.text.includes('chat.completion.chunk') : res.text.includes('"chat.completion"'));
  if (!ok) throw new Error(`${name}: ${stream ? 'streaming' : 'non-streaming'} probe answered ${res.status}: ${res.text.slice(0, 300)}`);
}

interface Live {
  readonly target: Target;
  readonly sut: Running;
  readonly acc: Partial<Record<Phase, Accumulator>>;
}

const PHASES: readonly { phase: Phase; label: string; stream: boolean; run(spec: LoadSpec, seconds: number, tally: Tally): Promise<unknown> }[] = [
  { phase: 'max', label: 'max throughput', stream: false, run: (spec, seconds, tally) => runAutocannon(spec, { connections: settings.connections, seconds, leadInSeconds: settings.leadIn }, tally) },
  {
    phase: 'rate',
    label: `${settings.rate} req/s, autocannon overallRate`,
    stream: false,
    run: (spec, seconds, tally) => runAutocannon(spec, { connections: settings.connections, seconds, overallRate: settings.rate, leadInSeconds: settings.leadIn }, tally),
  },
  {
    phase: 'paced',
    label: `${settings.rate} req/s, paced`,
    stream: false,
    run: (spec, seconds, tally) => runPaced(spec, { rate: settings.rate, seconds, connections: settings.connections, leadInSeconds: settings.leadIn }, tally),
  },
  {
    phase: 'streamMax',
    label: 'streaming max throughput',
    stream: true,
    run: (spec, seconds, tally) => runAutocannon(spec, { connections: settings.connections, seconds, leadInSeconds: settings.leadIn }, tally),
  },
  {
    phase: 'streamPaced',
    label: `streaming ${settings.rate} req/s, paced`,
    stream: true,
    run: (spec, seconds, tally) => runPaced(spec, { rate: settings.rate, seconds, connections: settings.connections, leadInSeconds: settings.leadIn }, tally),
  },
];

/** Starts every target, checks each answers as it should and warms it up; a target that cannot is a FAILED row. */
async function startAll(targets: readonly Target[], mockPid: number | undefined): Promise<{ live: Live[]; failed: Row[] }> {
  const live: Live[] = [];
  const failed: Row[] = [];
  for (const target of targets) {
    log(`${target.name}: starting`);
    let sut: Running | undefined;
    try {
      sut = await target.start();
      checkProbe(target.name, false, await probe(specOf(sut.url, false, sut.auth)));
      checkProbe(target.name, true, await probe(specOf(sut.url, true, sut.auth)));
      const direct = target.name === 'direct';
      const acc: Live['acc'] = {};
      for (const p of PHASES) if (settings.stream || !p.stream) acc[p.phase] = new Accumulator({ mock: mockPid, sut: direct ? undefined : sut.pids });
      live.push({ target, sut, acc });
    } catch (err) {
      await sut?.stop();
      failed.push({ name: target.name, error: (err as Error).message });
    }
  }
  for (const l of live) {
    log(`${l.target.name}: warm-up ${settings.warmup} s`);
    await runAutocannon(specOf(l.sut.url, false, l.sut.auth), { connections: settings.connections, seconds: settings.warmup });
    if (settings.stream) await runAutocannon(specOf(l.sut.url, true, l.sut.auth), { connections: settings.connections, seconds: Math.min(1, settings.warmup) });
  }
  return { live, failed };
}

/** Every phase, in slices interleaved across the targets. */
async function measureAll(live: readonly Live[]): Promise<Row[]> {
  const slices = Math.max(1, Math.round(settings.seconds / settings.slice));
  const sliceSeconds = settings.seconds / slices;
  const broken = new Map<string, string>();
  for (const p of PHASES) {
    if (p.stream && !settings.stream) continue;
    log(`${p.label}: ${slices} × ${sliceSeconds.toFixed(1)} s per target, interleaved`);
    for (let round = 0; round < slices; round++) {
      for (let j = 0; j < live.length; j++) {
        const l = live[(round + j) % live.length] as Live;
        if (broken.has(l.target.name)) continue;
        try {
          await l.acc[p.phase]?.slice((tally) => p.run(specOf(l.sut.url, p.stream, l.sut.auth), sliceSeconds, tally));
        } catch (err) {
          broken.set(l.target.name, `${p.label}: ${(err as Error).message}`);
        }
      }
    }
  }
  return live.map((l) => {
    const error = broken.get(l.target.name);
    if (error !== undefined) return { name: l.target.name, error };
    const row: { -readonly [K in keyof Row]: Row[K] } = { name: l.target.name };
    for (const p of PHASES) {
      const a = l.acc[p.phase];
      if (a !== undefined) row[p.phase] = a.measured();
    }
    return row;
  });
}

// ---------------------------------------------------------------------------------------------
// Redis

function redisPing(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((done) => {
    const sock = connect({ host, port });
    let data = '';
    const end = (ok: boolean): void => {
      sock.destroy();
      done(ok);
    };
    sock.setTimeout(500, () => end(false));
    sock.on('error', () => end(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) end(data.startsWith('+PONG'));
    });
  });
}

async function startRedis(dir: string): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = startProcess({
    name: 'redis-server',
    command: 'redis-server',
    // No persistence: the benchmark measures the round trips, not the disk.
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    logFile: join(dir, 'redis.log'),
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`redis-server exited:\n${proc.tail()}`);
    if (await redisPing(port)) return { url: `redis://127.0.0.1:${port}`, proc };
    await new Promise((r) => setTimeout(r, 25));
  }
  await proc.stop();
  throw new Error('redis-server did not answer PING within 10 s');
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(2));
const int = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : Math.round(v).toString());
const pad = (s: string, n: number): string => s.padStart(n);
const NOISY = 25;

function problems(r: LoadResult | undefined): string | undefined {
  if (r === undefined) return undefined;
  if (r.non2xx === 0 && r.errors === 0) return undefined;
  const codes = Object.entries(r.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, n]) => `${c}×${n}`)
    .join(' ');
  return `${r.non2xx} non-2xx${codes ? ` (${codes})` : ''}, ${r.errors} errors`;
}

const RUNS = [
  ['max', (r: Row) => r.max],
  ['rate (autocannon)', (r: Row) => r.rate],
  ['rate (paced)', (r: Row) => r.paced],
  ['stream max', (r: Row) => r.streamMax],
  ['stream paced', (r: Row) => r.streamPaced],
] as const;

function validity(row: Row): { invalid: string[]; noisy: string[] } {
  const invalid: string[] = [];
  const noisy: string[] = [];
  for (const [label, pick] of RUNS) {
    const m = pick(row);
    const p = problems(m?.r);
    if (p !== undefined) invalid.push(`${row.name} / ${label}: ${p}`);
    if (m?.cpu.other !== undefined && m.cpu.other >= NOISY) noisy.push(`${row.name} / ${label}: other processes used ${m.cpu.other.toFixed(0)}% of a core`);
  }
  return { invalid, noisy };
}

function report(rows: readonly Row[], notes: readonly string[]): string {
  const lines: string[] = [];
  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  lines.push('');
  lines.push(`TokenHub benchmark: ${availableParallelism()} CPUs (${cpuModel}), node ${process.version}`);
  lines.push(`  ${settings.seconds} s per measurement and target, in slices of ${settings.slice} s interleaved across targets (each slice`);
  lines.push(`  after a ${settings.leadIn} s lead-in that is not counted), after ${settings.warmup} s warm-up;`);
  lines.push(`  max throughput with ${settings.connections} connections (autocannon);`);
  lines.push(`  fixed rate ${settings.rate} req/s two ways: autocannon overallRate (bursts each second) and paced (evenly spaced, open loop).`);
  lines.push('  Latencies in ms over 2xx responses. CPU% = % of one core during the run: gen = load generator (this process),');
  lines.push('  mk = mock upstream, sut = system under test, oth = every other process on the machine (noise).');
  for (const n of notes) lines.push(`  NOTE: ${n}`);
  lines.push('');
  lines.push('Non-streaming chat completion (max_tokens 16)');
  lines.push(`  ${''.padEnd(14)} ${'┌─ max throughput ──────────────────────────────────────┐'} ${`┌─ ${settings.rate} req/s ──────────────────────┐`}`);
  lines.push(`  ${'target'.padEnd(14)} ${pad('req/s', 7)} ${pad('p50', 6)} ${pad('p99', 7)} ${pad('µs/req', 6)} ${pad('CPU% gen/mk/sut/oth', 19)} ${pad('ac p50', 6)} ${pad('ac p99', 7)} ${pad('pc p50', 6)} ${pad('pc p99', 7)} ${pad('oth%', 4)}`);
  for (const r of rows) {
    if (r.error !== undefined) {
      lines.push(`  ${r.name.padEnd(14)} FAILED: ${r.error.split('\n')[0]}`);
      continue;
    }
    const c = r.max?.cpu;
    const cpuCell = c === undefined ? '-' : `${int(c.gen)}/${int(c.mock)}/${c.sut === undefined ? '=mk' : int(c.sut)}/${int(c.other)}`;
    lines.push(
      `  ${r.name.padEnd(14)} ${pad(int(r.max?.r.rps), 7)} ${pad(ms(r.max?.r.p50), 6)} ${pad(ms(r.max?.r.p99), 7)} ${pad(int(c?.usPerReq), 6)} ${pad(cpuCell, 19)} ` +
        `${pad(ms(r.rate?.r.p50), 6)} ${pad(ms(r.rate?.r.p99), 7)} ${pad(ms(r.paced?.r.p50), 6)} ${pad(ms(r.paced?.r.p99), 7)} ${pad(int(r.paced?.cpu.other), 4)}`,
    );
  }
  lines.push('  µs/req: CPU time of the system under test per response (the mock\'s for "direct"; gateway + redis-server for');
  lines.push('  "gateway+redis"). ac = autocannon overallRate, pc = paced; oth% = other processes during the paced run.');

  if (settings.stream) {
    lines.push('');
    lines.push('Streaming chat completion (stream: true, 16 tokens + usage chunk)');
    lines.push(`  ${'target'.padEnd(14)} ${pad('req/s', 7)} ${pad('p50', 6)} ${pad('p99', 7)} ${pad('µs/req', 6)} ${pad('pc p50', 6)} ${pad('pc p99', 7)} ${pad('oth%', 4)}`);
    for (const r of rows) {
      if (r.error !== undefined || r.streamMax === undefined) continue;
      const m = r.streamMax;
      lines.push(`  ${r.name.padEnd(14)} ${pad(int(m.r.rps), 7)} ${pad(ms(m.r.p50), 6)} ${pad(ms(m.r.p99), 7)} ${pad(int(m.cpu.usPerReq), 6)} ${pad(ms(r.streamPaced?.r.p50), 6)} ${pad(ms(r.streamPaced?.r.p99), 7)} ${pad(int(r.streamPaced?.cpu.other), 4)}`);
    }
  }

  const by = (name: string): Row | undefined => rows.find((r) => r.name === name && r.error === undefined);
  const direct = by('direct');
  const bare = by('bare proxy');
  lines.push('');
  lines.push('Ratios and targets');
  const verdict = (pass: boolean | undefined): string => (pass === undefined ? 'n/a' : pass ? 'PASS' : 'MISS');
  const pct = (v: number | undefined): string => (v === undefined ? '-' : `${(100 * v).toFixed(1)}%`);
  const msSigned = (v: number | undefined): string => (v === undefined ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms`);
  for (const gw of [by('gateway'), by('gateway+redis')]) {
    if (gw === undefined) continue;
    type Pick = (r: Row) => Measured | undefined;
    const thr = (base: Row | undefined, pick: Pick): number | undefined => {
      const a = pick(gw)?.r.rps;
      const b = base === undefined ? undefined : pick(base)?.r.rps;
      return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
    };
    const added = (base: Row | undefined, pick: Pick): number | undefined => {
      const a = pick(gw)?.r.p99;
      const b = base === undefined ? undefined : pick(base)?.r.p99;
      return a !== undefined && b !== undefined ? a - b : undefined;
    };
    const cpuRatio = (base: Row | undefined): string => {
      const a = gw.max?.cpu.usPerReq;
      const b = base?.max?.cpu.usPerReq;
      return a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}× the CPU per request` : '';
    };
    const tb = thr(bare, (r) => r.max);
    const pacedBare = added(bare, (r) => r.paced);
    const acBare = added(bare, (r) => r.rate);
    const t = (label: string, value: string, target = '', v = ''): string => `    ${label.padEnd(40)} ${value.padStart(10)}   ${target.padEnd(14)} ${v}`;
    lines.push(`  ${gw.name}:`);
    const target = gw.name.includes('redis') ? TARGET_THROUGHPUT_RATIO_REDIS : TARGET_THROUGHPUT_RATIO;
    lines.push(t('throughput / bare proxy', pct(tb), `target ≥ ${target * 100}%`, `${verdict(tb === undefined ? undefined : tb >= target)}  (${cpuRatio(bare)})`));
    lines.push(t('throughput / direct', pct(thr(direct, (r) => r.max))));
    lines.push(t(`added p99 @${settings.rate}/s vs bare proxy, paced`, msSigned(pacedBare), `target < ${TARGET_ADDED_P99_MS} ms`, verdict(pacedBare === undefined ? undefined : pacedBare < TARGET_ADDED_P99_MS)));
    lines.push(t(`added p99 @${settings.rate}/s vs bare proxy, autocannon`, msSigned(acBare), `target < ${TARGET_ADDED_P99_MS} ms`, `${verdict(acBare === undefined ? undefined : acBare < TARGET_ADDED_P99_MS)}  (bursty load, see bench/load.ts)`));
    lines.push(t(`added p99 @${settings.rate}/s vs direct, paced`, msSigned(added(direct, (r) => r.paced))));
    lines.push(t(`added p99 @${settings.rate}/s vs direct, autocannon`, msSigned(added(direct, (r) => r.rate))));
    if (settings.stream) {
      lines.push(t('streaming throughput / bare proxy', pct(thr(bare, (r) => r.streamMax))));
      lines.push(t('streaming throughput / direct', pct(thr(direct, (r) => r.streamMax))));
      lines.push(t(`streaming added p99 @${settings.rate}/s vs bare, paced`, msSigned(added(bare, (r) => r.streamPaced))));
      lines.push(t(`streaming added p99 @${settings.rate}/s vs direct, paced`, msSigned(added(direct, (r) => r.streamPaced))));
    }
  }

  const checks = rows.map(validity);
  const invalid = checks.flatMap((c) => c.invalid);
  const noisy = checks.flatMap((c) => c.noisy);
  const failed = rows.filter((r) => r.error !== undefined);
  lines.push('');
  if (invalid.length === 0 && failed.length === 0) {
    lines.push('Validity: every response of every run was 2xx; no connection errors.');
  } else {
    lines.push('Validity: INVALID: runs with errors do not measure what they claim:');
    for (const i of invalid) lines.push(`  ${i}`);
    for (const f of failed) lines.push(`  ${f.name}: ${f.error}`);
  }
  if (noisy.length > 0) {
    lines.push(`Noise: other processes were busy during ${noisy.length} run(s); those numbers are pessimistic:`);
    for (const n of noisy) lines.push(`  ${n}`);
  } else {
    lines.push(`Noise: other processes stayed under ${NOISY}% of a core in every run.`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenhub-bench-'));
  const profiles = join(dir, 'profiles');
  const notes: string[] = [];
  const procs: Proc[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    // Mock upstream, for the whole run.
    const mockPort = await freePort();
    const mock = startProcess({ name: 'mock upstream', command: process.execPath, args: [CLI, 'mock-upstream', '--port', String(mockPort), '--host', '127.0.0.1'], logFile: join(dir, 'mock.log') });
    procs.push(mock);
    const mockBase = `http://127.0.0.1:${mockPort}`;
    await waitForHttp(mock, `${mockBase}/__mock/stats`);

    const configDir = join(dir, 'config');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'bench.yaml'), gatewayManifests(`${mockBase}/v1`));

    // The memory-store gateway must not pick up a Redis URL from the environment.
    const gatewayEnv: NodeJS.ProcessEnv = { ...process.env };
    delete gatewayEnv['TOKENHUB_REDIS_URL'];

    const startGatewayProc = async (name: string, logName: string, extra: string[]): Promise<Running> => {
      const port = await freePort();
      const nodeArgs = [...settings.gatewayNodeArgs, ...(settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`, `--cpu-prof-name=${logName}.cpuprofile`] : [])];
      const proc = startProcess({
        name,
        command: process.execPath,
        args: [
          ...nodeArgs, CLI, 'gateway', '--config', configDir, '--port', String(port), '--host', '127.0.0.1',
          ...(settings.gatewayLogLevel === undefined ? [] : ['--log-level', settings.gatewayLogLevel]), ...extra,
        ],
        logFile: join(dir, `${logName}.log`),
        env: gatewayEnv,
      });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForHttp(proc, `${url}/readyz`);
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return { url, pids: proc.child.pid === undefined ? [] : [proc.child.pid], auth: true, stop: () => proc.stop() };
    };

    const targets: Target[] = [
      { name: 'direct', start: async () => ({ url: mockBase, pids: [], auth: false, stop: async () => {} }) },
      {
        name: 'bare proxy',
        start: async () => {
          const port = await freePort();
          const proc = startProcess({ name: 'bare proxy', command: process.execPath, args: [BARE_PROXY, '--port', String(port), '--upstream', mockBase], logFile: join(dir, 'bare-proxy.log') });
          const url = `http://127.0.0.1:${port}`;
          await waitForHttp(proc, `${url}/healthz`);
          return { url, pids: proc.child.pid === undefined ? [] : [proc.child.pid], auth: false, stop: () => proc.stop() };
        },
      },
      { name: 'gateway', start: () => startGatewayProc('gateway', 'gateway', []) },
    ];

    // The Redis row.
    const redisWanted = settings.store === 'redis' || (settings.store === 'auto' && (settings.redisUrl !== undefined || onPath('redis-server') !== undefined));
    if (settings.store !== 'memory' && settings.store !== 'redis' && settings.store !== 'auto') throw new Error(`BENCH_STORE must be memory or redis, got '${settings.store}'`);
    if (redisWanted) {
      targets.push({
        name: 'gateway+redis',
        start: async () => {
          let redis: { url: string; proc?: Proc };
          if (settings.redisUrl !== undefined) redis = { url: settings.redisUrl };
          else if (onPath('redis-server') !== undefined) redis = await startRedis(dir);
          else throw new Error('BENCH_STORE=redis: set TOKENHUB_REDIS_URL or put redis-server on PATH');
          try {
            const gw = await startGatewayProc('gateway+redis', 'gateway-redis', ['--redis', redis.url]);
            const redisPid = redis.proc?.child.pid;
            return {
              ...gw,
              pids: [...gw.pids, ...(redisPid === undefined ? [] : [redisPid])],
              stop: async () => {
                await gw.stop();
                await redis.proc?.stop();
              },
            };
          } catch (err) {
            await redis.proc?.stop();
            throw err;
          }
        },
      });
      notes.push(`gateway+redis: ${settings.redisUrl !== undefined ? `Redis at TOKENHUB_REDIS_URL` : 'a local redis-server (no persistence), a 4th busy process on the same cores'}`);
    } else if (settings.store === 'auto') {
      notes.push('no gateway+redis row: redis-server is not on PATH and TOKENHUB_REDIS_URL is unset');
    }
    if (settings.profile) notes.push('BENCH_PROFILE=1: the gateways ran under the CPU profiler; their numbers are slower than usual');
    notes.push(
      settings.gatewayLogLevel === undefined
        ? 'gateways at their default log level (info): one access log line per request, written to a file'
        : `gateways at --log-level ${settings.gatewayLogLevel}`,
    );
    if (settings.gatewayNodeArgs.length > 0) notes.push(`gateways ran with node ${settings.gatewayNodeArgs.join(' ')}`);

    const { live, failed } = await startAll(targets, mock.child.pid);
    for (const l of live) stops.push(() => l.sut.stop());
    const other = await waitForQuiet(mock.child.pid);
    if (other !== undefined && other >= 25) notes.push(`other processes used ${other.toFixed(0)}% of a core when measuring began (waited ${settings.quietWait} s)`);
    const measured = await measureAll(live);
    const rows = targets.map((t) => measured.find((r) => r.name === t.name) ?? failed.find((r) => r.name === t.name) ?? { name: t.name, error: 'not run' });

    process.stdout.write(`${report(rows, notes)}\n`);

    if (settings.profile) {
      // A profile is written when its process exits.
      for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
      let files: string[] = [];
      try {
        files = readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'));
      } catch {
        files = [];
      }
      for (const f of files) {
        process.stdout.write(`\nCPU profile ${join(profiles, f)}\n${formatSummary(summarizeProfile(join(profiles, f), { root: ROOT, top: 20 }))}\n`);
      }
      if (files.length === 0) process.stdout.write('\nBENCH_PROFILE=1 but no profile was written\n');
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop();
    if (settings.keep || settings.profile) process.stderr.write(`[bench] logs, manifests and profiles kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stdout.write(`\nbenchmark could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 0;
  },
);
