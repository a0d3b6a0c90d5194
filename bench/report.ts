/** The report: a table per phase, ratios against the bare proxy, PASS/MISS, validity notes. */
import { availableParallelism, cpus } from 'node:os';
import { type LoadResult } from './load.js';
import { type Measured, type Row } from './measure.js';
import { TARGETS, settings } from './settings.js';

// ---------------------------------------------------------------------------------------------
// Report

export const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(2));
export const int = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : Math.round(v).toString());
export const pad = (s: string, n: number): string => s.padStart(n);
export const NOISY = 25;

export function problems(r: LoadResult | undefined): string | undefined {
  if (r === undefined) return undefined;
  if (r.non2xx === 0 && r.errors === 0) return undefined;
  const codes = Object.entries(r.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, n]) => `${c}×${n}`)
    .join(' ');
  return `${r.non2xx} non-2xx${codes ? ` (${codes})` : ''}, ${r.errors} errors`;
}

export const RUNS = [
  ['max', (r: Row) => r.max],
  ['rate (autocannon)', (r: Row) => r.rate],
  ['rate (paced)', (r: Row) => r.paced],
  ['stream max', (r: Row) => r.streamMax],
  ['stream paced', (r: Row) => r.streamPaced],
] as const;

export function validity(row: Row): { invalid: string[]; noisy: string[] } {
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

export function report(rows: readonly Row[], notes: readonly string[]): string {
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
  lines.push(
    `  ${'target'.padEnd(14)} ${pad('req/s', 7)} ${pad('p50', 6)} ${pad('p99', 7)} ${pad('µs/req', 6)} ${pad('CPU% gen/mk/sut/oth', 19)} ${pad('ac p50', 6)} ${pad('ac p99', 7)} ${pad('pc p50', 6)} ${pad('pc p99', 7)} ${pad('oth%', 4)}`,
  );
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
    lines.push(
      `  ${'target'.padEnd(14)} ${pad('req/s', 7)} ${pad('p50', 6)} ${pad('p99', 7)} ${pad('µs/req', 6)} ${pad('pc p50', 6)} ${pad('pc p99', 7)} ${pad('oth%', 4)}`,
    );
    for (const r of rows) {
      if (r.error !== undefined || r.streamMax === undefined) continue;
      const m = r.streamMax;
      lines.push(
        `  ${r.name.padEnd(14)} ${pad(int(m.r.rps), 7)} ${pad(ms(m.r.p50), 6)} ${pad(ms(m.r.p99), 7)} ${pad(int(m.cpu.usPerReq), 6)} ${pad(ms(r.streamPaced?.r.p50), 6)} ${pad(ms(r.streamPaced?.r.p99), 7)} ${pad(int(r.streamPaced?.cpu.other), 4)}`,
      );
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
    const target = gw.name === 'gateway+redis' ? TARGETS['gateway+redis'] : TARGETS.gateway;
    lines.push(
      t(
        'throughput / bare proxy',
        pct(tb),
        `target ≥ ${target.throughput * 100}%`,
        `${verdict(tb === undefined ? undefined : tb >= target.throughput)}  (${cpuRatio(bare)})`,
      ),
    );
    lines.push(t('throughput / direct', pct(thr(direct, (r) => r.max))));
    lines.push(
      t(
        `added p99 @${settings.rate}/s vs bare proxy, paced`,
        msSigned(pacedBare),
        `target < ${target.addedP99Ms} ms`,
        verdict(pacedBare === undefined ? undefined : pacedBare < target.addedP99Ms),
      ),
    );
    lines.push(
      t(
        `added p99 @${settings.rate}/s vs bare proxy, autocannon`,
        msSigned(acBare),
        `target < ${target.addedP99Ms} ms`,
        `${verdict(acBare === undefined ? undefined : acBare < target.addedP99Ms)}  (bursty load, see bench/load.ts)`,
      ),
    );
    lines.push(t(`added p99 @${settings.rate}/s vs direct, paced`, msSigned(added(direct, (r) => r.paced))));
    lines.push(t(`added p99 @${settings.rate}/s vs direct, autocannon`, msSigned(added(direct, (r) => r.rate))));
    if (settings.stream) {
      const ts = thr(bare, (r) => r.streamMax);
      const streamTarget = target.streaming;
      lines.push(
        streamTarget === undefined
          ? t('streaming throughput / bare proxy', pct(ts))
          : t('streaming throughput / bare proxy', pct(ts), `target ≥ ${streamTarget * 100}%`, verdict(ts === undefined ? undefined : ts >= streamTarget)),
      );
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
