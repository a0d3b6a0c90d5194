/**
 * Hot spots of a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and
 * the project's own functions (dist/src/…) with the most inclusive time, their positions mapped
 * back to src/*.ts through the build's source maps.
 *
 *   node dist/bench/profile-summary.js PROFILE.cpuprofile [--top N]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  readonly name: string;
  /** file:line, in src/ when a source map says so. */
  readonly where: string;
  readonly ms: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Time not idle (what the process spent working). */
  readonly busyMs: number;
  readonly self: readonly HotSpot[];
  readonly projectInclusive: readonly HotSpot[];
}

const IDLE = new Set(['(idle)', '(program)']);

const maps = new Map<string, SourceMap | null>();
function sourceMapOf(file: string): SourceMap | null {
  let m = maps.get(file);
  if (m === undefined) {
    m = null;
    try {
      if (existsSync(`${file}.map`)) m = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return m;
}

function whereOf(frame: CallFrame, root: string): string {
  if (frame.url === '') return '(native)';
  if (!frame.url.startsWith('file://')) return `${frame.url}:${frame.lineNumber + 1}`;
  const file = fileURLToPath(frame.url);
  const map = sourceMapOf(file);
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
  if (entry !== undefined && 'originalSource' in entry && typeof entry.originalSource === 'string') {
    const src = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : new URL(entry.originalSource, pathToFileURL(file)).pathname;
    return `${relative(root, src)}:${entry.originalLine + 1}`;
  }
  const rel = relative(root, file);
  return `${rel.startsWith('..') ? file : rel}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(path: string, opts: { top?: number; root?: string } = {}): ProfileSummary {
  const top = opts.top ?? 15;
  const root = opts.root ?? process.cwd();
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\t${f.url}\t${f.lineNumber}\t${f.columnNumber}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (node === undefined) return;
    total += dt;
    const k = keyOf(node.callFrame);
    frames.set(k, node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    if (IDLE.has(node.callFrame.functionName)) {
      idle += dt;
      return;
    }
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (f === undefined) break;
      const fk = keyOf(f);
      if (seen.has(fk)) continue;
      seen.add(fk);
      frames.set(fk, f);
      inclusive.set(fk, (inclusive.get(fk) ?? 0) + dt);
    }
  });
  const busy = total - idle;
  const spot = ([k, ms]: [string, number]): HotSpot => {
    const f = frames.get(k) as CallFrame;
    return { name: f.functionName || '(anonymous)', where: whereOf(f, root), ms, percent: busy > 0 ? (100 * ms) / busy : 0 };
  };
  const selfSpots = [...self]
    .filter(([k]) => !IDLE.has(frames.get(k)?.functionName ?? ''))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(spot);
  const project = [...inclusive]
    .filter(([k]) => (frames.get(k)?.url ?? '').includes('/dist/src/'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(spot);
  return { totalMs: total, busyMs: busy, self: selfSpots, projectInclusive: project };
}

export function formatSummary(s: ProfileSummary): string {
  const line = (h: HotSpot): string => `  ${h.percent.toFixed(1).padStart(5)}%  ${h.ms.toFixed(0).padStart(6)} ms  ${h.name.padEnd(32)} ${h.where}`;
  return [
    `profiled ${(s.totalMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s (percentages are of busy time)`,
    'self time (where the CPU is):',
    ...s.self.map(line),
    'inclusive time of project functions (dist/src → src):',
    ...s.projectInclusive.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: profile-summary PROFILE.cpuprofile [--top N]');
  process.stdout.write(`${formatSummary(summarizeProfile(file, { top: Number(values.top ?? 20) }))}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`profile-summary: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
