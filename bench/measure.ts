/** Starting targets, and measuring them phase by phase in interleaved slices with their CPU. */
import { type LoadResult, type LoadSpec, Tally, probe, runAutocannon, runPaced } from './load.js';
import { cpuTimeMs, machineBusyMs } from './processes.js';
import { settings, specOf } from './settings.js';

// ---------------------------------------------------------------------------------------------
// Targets

export interface Running {
  /** Base URL (no /v1). */
  readonly url: string;
  /** The processes of the system under test (gateway, and redis-server when it started one); none for "direct". */
  readonly pids: readonly number[];
  readonly auth: boolean;
  stop(): Promise<void>;
}

export interface Target {
  readonly name: string;
  start(): Promise<Running>;
}

/** CPU during one measurement, in % of one core (so up to 100 × cores in all). */
export interface CpuShare {
  readonly gen: number;
  readonly mock?: number;
  readonly sut?: number;
  /** Everything else on the machine: other people's processes are noise in the numbers. */
  readonly other?: number;
  /** CPU of the system under test per response, µs (the mock's for "direct"). */
  readonly usPerReq?: number;
}

export interface Measured {
  readonly r: LoadResult;
  readonly cpu: CpuShare;
}

export type Phase = 'max' | 'rate' | 'paced' | 'streamMax' | 'streamPaced';

export interface Row extends Partial<Record<Phase, Measured>> {
  readonly name: string;
  readonly error?: string;
}

export const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

export const sum = (xs: readonly (number | undefined)[]): number | undefined =>
  xs.reduce<number | undefined>((a, x) => (a === undefined || x === undefined ? undefined : a + x), 0);

/** One target's measurement, slice after slice: the load results and the CPU each process used. */
export class Accumulator {
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
    const other =
      this.machineMs === undefined || this.mockMs === undefined || this.sutMs === undefined
        ? undefined
        : this.machineMs - this.genMs - this.mockMs - this.sutMs;
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
export async function waitForQuiet(mockPid: number | undefined, maxSeconds = settings.quietWait, threshold = 25): Promise<number | undefined> {
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

export function checkProbe(name: string, stream: boolean, res: { status: number; text: string }): void {
  const ok =
    res.status === 200 && (stream ? res.text.includes('data: [DONE]') && res.text.includes('chat.completion.chunk') : res.text.includes('"chat.completion"'));
  if (!ok) throw new Error(`${name}: ${stream ? 'streaming' : 'non-streaming'} probe answered ${res.status}: ${res.text.slice(0, 300)}`);
}

export interface Live {
  readonly target: Target;
  readonly sut: Running;
  readonly acc: Partial<Record<Phase, Accumulator>>;
}

export const PHASES: readonly { phase: Phase; label: string; stream: boolean; run(spec: LoadSpec, seconds: number, tally: Tally): Promise<unknown> }[] = [
  {
    phase: 'max',
    label: 'max throughput',
    stream: false,
    run: (spec, seconds, tally) => runAutocannon(spec, { connections: settings.connections, seconds, leadInSeconds: settings.leadIn }, tally),
  },
  {
    phase: 'rate',
    label: `${settings.rate} req/s, autocannon overallRate`,
    stream: false,
    run: (spec, seconds, tally) =>
      runAutocannon(spec, { connections: settings.connections, seconds, overallRate: settings.rate, leadInSeconds: settings.leadIn }, tally),
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
export async function startAll(targets: readonly Target[], mockPid: number | undefined): Promise<{ live: Live[]; failed: Row[] }> {
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
export async function measureAll(live: readonly Live[]): Promise<Row[]> {
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
