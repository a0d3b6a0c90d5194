/**
 * The single-node cluster of hack/node/up.sh for the end-to-end suite: start it (or reuse a
 * running one), run kubectl and helm against it, and wait for conditions by polling.
 */
import { readFileSync } from 'node:fs';
import type OpenAI from 'openai';
import { join } from 'node:path';
import { run, type RunResult } from '../../src/devtools/control-plane-process.js';
import { helmBinary, ROOT } from '../chart/helm.js';
import { waitFor } from '../support/poll.js';

export const NAMESPACE = 'tokenhub';
export const DEMO_KEY = 'th-demo-key-for-local-use-only';
export const MODEL = 'doubao-seed-2-0-lite-260215';
const STATE = process.env['TOKENHUB_NODE_DIR'] ?? '/var/lib/tokenhub-node';

export interface Node {
  kubeconfig: string;
  kubectlPath: string;
  /** image name → reference in the node's containerd (tokenhub, redis, pause). */
  images: Record<string, string>;
}

/** Starts the node (a cold machine builds Kubernetes and the images first: many minutes). */
export async function nodeUp(): Promise<Node> {
  const res = await run('bash', [join(ROOT, 'hack/node/up.sh')], { timeoutMs: 60 * 60_000, echoStderr: true });
  if (res.code !== 0) throw new Error(`hack/node/up.sh failed (${res.code}):\n${res.stderr.slice(-4000)}`);
  const images: Record<string, string> = {};
  for (const line of readFileSync(join(STATE, 'images.env'), 'utf8').trim().split('\n')) {
    const [k, v] = line.replace(/^image_/, '').split('=');
    if (k && v) images[k] = v;
  }
  const kubectlDir = readFileSync(join(STATE, 'kubectl-dir'), 'utf8').trim();
  return { kubeconfig: join(STATE, 'kubeconfig'), kubectlPath: join(kubectlDir, 'kubectl'), images };
}

export async function nodeDown(): Promise<void> {
  if (process.env['TOKENHUB_KEEP_NODE']) return;
  await run('bash', [join(ROOT, 'hack/node/down.sh')], { timeoutMs: 180_000, echoStderr: true });
}

export async function kubectl(node: Node, args: string[], input?: string): Promise<RunResult> {
  return run(node.kubectlPath, ['--kubeconfig', node.kubeconfig, ...args], { input, timeoutMs: 180_000 });
}

/** kubectl that must succeed: its stdout. */
export async function k(node: Node, args: string[], input?: string): Promise<string> {
  const res = await kubectl(node, args, input);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}

export async function helmOn(node: Node, args: string[]): Promise<RunResult> {
  return run(await helmBinary(), args, { env: { ...process.env, KUBECONFIG: node.kubeconfig }, timeoutMs: 600_000 });
}

/** test/support/poll.ts's waitFor with the e2e tier's patience (pods start in minutes, not seconds). */
export function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 180_000, intervalMs = 500): Promise<T> {
  return waitFor(check, { what, timeoutMs, intervalMs });
}

export interface PodInfo {
  name: string;
  ready: boolean;
  phase: string;
  ip: string;
  deleting: boolean;
}

interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string };
    status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
  }[];
}

export async function pods(node: Node, selector: string): Promise<PodInfo[]> {
  const list = JSON.parse(await k(node, ['-n', NAMESPACE, 'get', 'pods', '-l', selector, '-o', 'json'])) as PodList;
  return list.items.map((p) => ({
    name: p.metadata.name,
    phase: p.status.phase ?? '',
    ip: p.status.podIP ?? '',
    deleting: p.metadata.deletionTimestamp !== undefined,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** Waits until exactly `count` pods match, all Ready and none terminating. */
export function readyPods(node: Node, selector: string, count: number, timeoutMs = 240_000): Promise<PodInfo[]> {
  return poll(
    `${count} ready pods ${selector}`,
    async () => {
      const ps = await pods(node, selector);
      return ps.length === count && ps.every((p) => p.ready && !p.deleting) ? ps : undefined;
    },
    timeoutMs,
  );
}

export async function clusterIP(node: Node, service: string): Promise<string> {
  return (await k(node, ['-n', NAMESPACE, 'get', 'service', service, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
}

export interface StreamResult {
  /** Streams that ended with finish_reason and a usage chunk. */
  complete: number;
  /** Streams that errored or ended without their usage chunk: cut. */
  cut: string[];
}

/** `workers` loops of sequential streamed completions (with include_usage) until stop(). */
export function startStreams(opts: { client: OpenAI; model: string; workers: number; maxMs: number }): { stop(): Promise<StreamResult> } {
  let stopped = false;
  const result: StreamResult = { complete: 0, cut: [] };
  const until = Date.now() + opts.maxMs;
  const one = async (): Promise<void> => {
    const stream = await opts.client.chat.completions.create({
      model: opts.model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'stream' }],
    });
    let finish: string | null | undefined;
    let usage = false;
    for await (const chunk of stream) {
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = true;
    }
    if (finish && usage) result.complete++;
    else result.cut.push(`ended without ${finish ? 'usage' : 'finish_reason'}`);
  };
  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < until)
      await one().catch((err: Error) => {
        result.cut.push(err.message);
      });
  };
  const running = Promise.all(Array.from({ length: opts.workers }, () => worker()));
  return {
    stop: async () => {
      stopped = true;
      await running;
      return result;
    },
  };
}

export interface TimedLoadResult {
  ok: number;
  failures: string[];
  /** Latency of every successful request, ms. */
  latencies: number[];
}

/** `workers` loops of sequential non-stream completions until stop(), each timed. */
export function startTimedLoad(opts: { client: OpenAI; model: string; workers: number; maxMs: number }): { ok(): number; stop(): Promise<TimedLoadResult> } {
  let stopped = false;
  const result: TimedLoadResult = { ok: 0, failures: [], latencies: [] };
  const until = Date.now() + opts.maxMs;
  const worker = async (n: number): Promise<void> => {
    while (!stopped && Date.now() < until) {
      const t0 = performance.now();
      try {
        await opts.client.chat.completions.create({ model: opts.model, messages: [{ role: 'user', content: `load ${n}` }], max_tokens: 8 });
        result.latencies.push(performance.now() - t0);
        result.ok++;
      } catch (err) {
        const e = err as { status?: number; message?: string };
        result.failures.push(`${e.status ?? 'no-status'} ${e.message ?? String(err)}`);
      }
    }
  };
  const running = Promise.all(Array.from({ length: opts.workers }, (_, n) => worker(n)));
  return {
    ok: () => result.ok,
    stop: async () => {
      stopped = true;
      await running;
      return result;
    },
  };
}

/** p50 / p99 / max of latencies in ms, as one printable string. */
export function latencySummary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${Math.round(s[s.length - 1] ?? 0)} ms`;
}
